//! The simulated patients' personal data: synthetic, sealed deterministically, with the keys
//! stored in a key store so that `trial-ledger erase` can crypto-shred them.
//!
//! Every registered patient gets their own stream, forked in registration order from the
//! `personal-data` stream (itself forked from the key-derivation stream after the signing keys,
//! so no clinical draw, id or clock tick moves). From it, in this order: the patient's 32-byte
//! data key, the 24-byte nonce, then the synthetic data. The data is sealed with
//! [`tl_domain::personal::seal_with_nonce`] into the `PatientRegistered` envelope's
//! `personal_data` before the event is signed.
//!
//! A nonce derived from the seed is safe here only because each key is the patient's own and
//! seals exactly once (their registration); a real deployment uses
//! [`tl_domain::personal::seal`], whose nonce is random, under keys from
//! [`tl_domain::personal::KeyStore::key_for`].
//!
//! The data is fake and meant to look it: initials drawn uniformly from A-Z, a birth year that
//! makes an adult cancer patient (18 to 88 at registration, most around 60), and a hospital
//! number `H-` followed by seven random digits, a format of no real hospital.

use crate::rng::SimRng;
use crate::SimError;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use tl_domain::personal::{seal_with_nonce, DataKey, KeyStore, PersonalData, NONCE_LEN};
use tl_schemas::ids::Name;
use tl_schemas::{Date, TrialId};

/// A simulated patient's personal data, with the key and nonce it is sealed under.
#[derive(Debug)]
pub struct SimPersonal {
    /// The patient's data key (derived from the seed).
    pub key: DataKey,
    /// The nonce of the patient's one seal (derived from the seed).
    pub nonce: [u8; NONCE_LEN],
    /// The synthetic data.
    pub data: PersonalData,
}

impl SimPersonal {
    /// Draws a patient's key, nonce and data from their personal-data stream, in that order.
    pub fn draw(rng: &mut SimRng, registered_on: Date) -> SimPersonal {
        let key = DataKey::from_bytes(rng.bytes32());
        let nonce = rng.bytes24();
        let data = synthetic_data(rng, registered_on);
        SimPersonal { key, nonce, data }
    }

    /// The sealed bytes for the `PatientRegistered` envelope's `personal_data`.
    pub fn seal(&self, trial: &TrialId, patient: &Name) -> Vec<u8> {
        seal_with_nonce(&self.key, self.nonce, trial, patient, &self.data)
    }
}

/// Synthetic personal data of a patient registered on `registered_on`: two initials (three for
/// one patient in five) such as `J.A.`, a year of birth that makes them 18 to 88 at
/// registration (normal around 62, standard deviation 11, clamped), and a hospital number
/// `H-` followed by seven digits.
pub fn synthetic_data(rng: &mut SimRng, registered_on: Date) -> PersonalData {
    let count = if rng.chance(0.2) { 3 } else { 2 };
    let initials: String = (0..count)
        .flat_map(|_| [char::from(b'A' + rng.index(26) as u8), '.'])
        .collect();
    // Age in years reached this calendar year: 19..=88, so 18 to 88 on the day of registration
    // whatever the birthday.
    let age = (62.0 + 11.0 * rng.normal()).round().clamp(19.0, 88.0) as i32;
    let year = registered_on.ymd().map_or(2016, |(y, _, _)| y);
    let hospital_number = format!("H-{:07}", rng.range(0, 9_999_999));
    PersonalData {
        initials: Some(initials),
        birth_year: u16::try_from(year - age).ok(),
        hospital_number: Some(hospital_number),
    }
}

/// Stores the simulated patients' keys with [`KeyStore::import`] on a background thread, so
/// that the key store's fsyncs (two per patient) overlap with the simulation instead of adding
/// to it.
///
/// A key is queued before the record that carries data sealed under it is submitted, and every
/// key is durable before the simulation's final ledger flush; a crash in the middle of a run
/// may leave a group of durable records whose keys are not stored yet, which is harmless: the
/// keys are derived from the seed, and a simulation is never resumed.
pub(crate) struct KeyImporter {
    tx: mpsc::SyncSender<(Name, DataKey)>,
    handle: thread::JoinHandle<Result<u32, SimError>>,
}

impl KeyImporter {
    /// Opens (creating if needed) the key store in `dir` and starts the importer.
    pub(crate) fn start(dir: &Path, trial: &TrialId) -> Result<KeyImporter, SimError> {
        let store = KeyStore::open(dir)?;
        let trial = trial.clone();
        let (tx, rx) = mpsc::sync_channel::<(Name, DataKey)>(1024);
        let handle = thread::Builder::new()
            .name("tl-sim-keystore".into())
            .spawn(move || {
                let mut stored = 0;
                for (patient, key) in rx {
                    store.import(&trial, &patient, &key)?;
                    stored += 1;
                }
                Ok(stored)
            })
            .map_err(|e| SimError::Invalid(format!("starting the key-store thread: {e}")))?;
        Ok(KeyImporter { tx, handle })
    }

    /// Queues a patient's key. `false` if the importer has stopped on an error, which
    /// [`KeyImporter::finish`] returns.
    pub(crate) fn send(&self, patient: Name, key: DataKey) -> bool {
        self.tx.send((patient, key)).is_ok()
    }

    /// Waits until every queued key is stored; the number of keys stored, or the first error.
    pub(crate) fn finish(self) -> Result<u32, SimError> {
        drop(self.tx);
        self.handle
            .join()
            .map_err(|_| SimError::Invalid("the key-store thread panicked".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_domain::personal::{disclose, open, Disclosure};

    fn day() -> Date {
        Date::from_ymd(2020, 6, 15).unwrap()
    }

    #[test]
    fn one_stream_gives_the_same_sealed_bytes_and_they_open() {
        // given two copies of one stream, and a patient
        let trial = TrialId::new("sim-test").unwrap();
        let patient = Name::new("PT-0000ABCD").unwrap();
        let a = SimPersonal::draw(&mut SimRng::from_seed(5).fork("personal-data"), day());
        let b = SimPersonal::draw(&mut SimRng::from_seed(5).fork("personal-data"), day());
        // when each seals the patient's data
        let (sa, sb) = (a.seal(&trial, &patient), b.seal(&trial, &patient));
        // then the bytes are identical, carry the derived nonce, and open to the data
        assert_eq!(sa, sb);
        assert_eq!(sa[1..1 + NONCE_LEN], a.nonce);
        assert_eq!(open(&a.key, &trial, &patient, &sa).unwrap(), a.data);
        // and the clear data is not in the sealed bytes
        let number = a.data.hospital_number.clone().unwrap();
        assert!(!sa.windows(number.len()).any(|w| w == number.as_bytes()));
    }

    #[test]
    fn every_patient_has_their_own_key_and_nonce() {
        // given a personal-data stream forked per patient, as the engine does
        let mut parent = SimRng::from_seed(9).fork("personal-data");
        let drawn: Vec<SimPersonal> = (0..200)
            .map(|_| SimPersonal::draw(&mut parent.fork("patient"), day()))
            .collect();
        // then no two patients share a key or a nonce
        let trial = TrialId::new("sim-test").unwrap();
        let patient = Name::new("PT-1").unwrap();
        let mut nonces: Vec<_> = drawn.iter().map(|d| d.nonce).collect();
        nonces.sort();
        nonces.dedup();
        assert_eq!(nonces.len(), drawn.len());
        // (keys compared through what they seal: same data, nonce and AAD, other key)
        let mut sealed: Vec<Vec<u8>> = drawn
            .iter()
            .map(|d| seal_with_nonce(&d.key, [0; NONCE_LEN], &trial, &patient, &d.data))
            .collect();
        sealed.sort();
        sealed.dedup();
        assert_eq!(sealed.len(), drawn.len());
    }

    #[test]
    fn the_synthetic_data_is_plausible_and_fake() {
        // given many patients registered in mid-2020
        let mut rng = SimRng::from_seed(11);
        for _ in 0..2_000 {
            // when their data is drawn
            let d = synthetic_data(&mut rng, day());
            // then the initials are two or three dotted capitals,
            let initials = d.initials.unwrap();
            assert!(initials.len() == 4 || initials.len() == 6, "{initials}");
            for pair in initials.as_bytes().chunks(2) {
                assert!(
                    pair[0].is_ascii_uppercase() && pair[1] == b'.',
                    "{initials}"
                );
            }
            // the patient is an adult of at most 88 at registration,
            let age = 2020 - i32::from(d.birth_year.unwrap());
            assert!((19..=88).contains(&age), "{age}");
            // and the hospital number is H- and seven digits
            let number = d.hospital_number.unwrap();
            assert_eq!(number.len(), 9, "{number}");
            assert!(number.starts_with("H-"), "{number}");
            assert!(number[2..].bytes().all(|b| b.is_ascii_digit()), "{number}");
        }
    }

    #[test]
    fn the_importer_stores_every_key_so_the_data_reads() {
        // given an importer into a fresh key store, and sealed data of three patients
        let tmp = tempfile::tempdir().unwrap();
        let trial = TrialId::new("sim-test").unwrap();
        let importer = KeyImporter::start(&tmp.path().join("keystore"), &trial).unwrap();
        let mut rng = SimRng::from_seed(3).fork("personal-data");
        let mut sealed = Vec::new();
        for i in 0..3 {
            let patient = Name::new(format!("PT-{i}")).unwrap();
            let p = SimPersonal::draw(&mut rng.fork("patient"), day());
            sealed.push((patient.clone(), p.seal(&trial, &patient), p.data.clone()));
            // when their keys are queued
            assert!(importer.send(patient, p.key));
        }
        // then all are stored once the importer finishes, and the data discloses
        assert_eq!(importer.finish().unwrap(), 3);
        let store = KeyStore::open(&tmp.path().join("keystore")).unwrap();
        for (patient, bytes, data) in sealed {
            assert_eq!(
                disclose(&store, &trial, &patient, Some(&bytes)).unwrap(),
                Disclosure::Readable(data)
            );
        }
    }

    #[test]
    fn the_importer_reports_a_refused_key() {
        // given a key store where a patient already has a different key
        let tmp = tempfile::tempdir().unwrap();
        let trial = TrialId::new("sim-test").unwrap();
        let patient = Name::new("PT-1").unwrap();
        KeyStore::open(&tmp.path().join("keystore"))
            .unwrap()
            .key_for(&trial, &patient)
            .unwrap();
        // when the importer is given another key for them
        let importer = KeyImporter::start(&tmp.path().join("keystore"), &trial).unwrap();
        importer.send(patient, DataKey::from_bytes([1; 32]));
        // then finishing reports the key store's refusal
        let result = importer.finish();
        assert!(
            matches!(
                result,
                Err(SimError::PersonalData(
                    tl_domain::personal::PersonalDataError::KeyConflict { .. }
                ))
            ),
            "{result:?}"
        );
    }
}
