//! Clinical event payloads and the protocol's cohort catalogue (the domain's types).
//!
//! Type numbers are in the clinical range `0x0100..` (FORMAT.md, "Event types"). Every struct
//! is version 1 and frozen by a golden vector. Measurements are integers with their unit in
//! the name (`diameter_mm10` is tenths of a millimetre, `vaf_bp` basis points, `dose_milli`
//! thousandths of the dose unit); there are no floats in signed structs. Enum variant order
//! is frozen: new variants are only ever appended.

use crate::ids::{Hash32, Name};
use crate::time::{Date, PartialDate};
use serde::{Deserialize, Serialize};

/// Clinical event type numbers. Never renumbered.
pub mod clinical_type {
    /// [`super::PatientRegistered`].
    pub const PATIENT_REGISTERED: u16 = 0x0101;
    /// [`super::ConsentRecorded`].
    pub const CONSENT_RECORDED: u16 = 0x0102;
    /// [`super::ConsentWithdrawn`].
    pub const CONSENT_WITHDRAWN: u16 = 0x0103;
    /// [`super::SequencingResultReported`].
    pub const SEQUENCING_RESULT_REPORTED: u16 = 0x0104;
    /// [`super::MatchProposed`].
    pub const MATCH_PROPOSED: u16 = 0x0105;
    /// [`super::MatchDecided`].
    pub const MATCH_DECIDED: u16 = 0x0106;
    /// [`super::SlotAssigned`].
    pub const SLOT_ASSIGNED: u16 = 0x0107;
    /// [`super::SlotRefused`].
    pub const SLOT_REFUSED: u16 = 0x0108;
    /// [`super::PatientEnrolled`].
    pub const PATIENT_ENROLLED: u16 = 0x0109;
    /// [`super::DoseAdministered`].
    pub const DOSE_ADMINISTERED: u16 = 0x010A;
    /// [`super::DoseModified`].
    pub const DOSE_MODIFIED: u16 = 0x010B;
    /// [`super::AdverseEventReported`].
    pub const ADVERSE_EVENT_REPORTED: u16 = 0x010C;
    /// [`super::AdverseEventUpdated`].
    pub const ADVERSE_EVENT_UPDATED: u16 = 0x010D;
    /// [`super::ResponseAssessed`].
    pub const RESPONSE_ASSESSED: u16 = 0x010E;
    /// [`super::TreatmentEnded`].
    pub const TREATMENT_ENDED: u16 = 0x010F;
    /// [`super::SurvivalStatusRecorded`].
    pub const SURVIVAL_STATUS_RECORDED: u16 = 0x0110;
    /// [`super::DeathRecorded`].
    pub const DEATH_RECORDED: u16 = 0x0111;
    /// [`super::CohortStageDecided`].
    pub const COHORT_STAGE_DECIDED: u16 = 0x0112;
    /// [`super::Corrected`].
    pub const CORRECTED: u16 = 0x0113;

    /// The name of a clinical type, or `None`.
    pub fn name(t: u16) -> Option<&'static str> {
        Some(match t {
            PATIENT_REGISTERED => "PatientRegistered",
            CONSENT_RECORDED => "ConsentRecorded",
            CONSENT_WITHDRAWN => "ConsentWithdrawn",
            SEQUENCING_RESULT_REPORTED => "SequencingResultReported",
            MATCH_PROPOSED => "MatchProposed",
            MATCH_DECIDED => "MatchDecided",
            SLOT_ASSIGNED => "SlotAssigned",
            SLOT_REFUSED => "SlotRefused",
            PATIENT_ENROLLED => "PatientEnrolled",
            DOSE_ADMINISTERED => "DoseAdministered",
            DOSE_MODIFIED => "DoseModified",
            ADVERSE_EVENT_REPORTED => "AdverseEventReported",
            ADVERSE_EVENT_UPDATED => "AdverseEventUpdated",
            RESPONSE_ASSESSED => "ResponseAssessed",
            TREATMENT_ENDED => "TreatmentEnded",
            SURVIVAL_STATUS_RECORDED => "SurvivalStatusRecorded",
            DEATH_RECORDED => "DeathRecorded",
            COHORT_STAGE_DECIDED => "CohortStageDecided",
            CORRECTED => "Corrected",
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------- protocol: cohort catalogue

/// `ProtocolAmended.document_format` of a [`CohortCatalogue`].
pub const DOCUMENT_FORMAT_COHORT_CATALOGUE: u16 = 1;

/// The protocol document: the cohorts the trial runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortCatalogue {
    /// The cohorts, by id.
    pub cohorts: Vec<CohortDefinition>,
}

/// `ProtocolAmended.document_format` of a [`CohortCatalogue2`]: the catalogue with the analysis
/// conventions it is read with.
pub const DOCUMENT_FORMAT_COHORT_CATALOGUE_2: u16 = 2;

/// Protocol document format 2: the analysis conventions, then the cohorts (FORMAT.md §10a.4).
/// A format-1 catalogue states no conventions and is read with the format-1 definitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortCatalogue2 {
    /// How the trial's outcomes are defined.
    pub conventions: AnalysisConventions,
    /// The cohorts, encoded exactly as a format-1 document.
    pub catalogue: CohortCatalogue,
}

/// The analysis conventions a format-2 protocol document states. Days count from the first
/// dose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConventions {
    /// Days between scheduled response assessments (DRUP: 56, every 8 weeks).
    pub scan_interval_days: u16,
    /// Days an assessment may fall from its scheduled day and still be on schedule (7).
    pub scan_window_days: u16,
    /// The clinical-benefit landmark (16 weeks: 112).
    pub benefit_landmark_day: u16,
    /// Days before the landmark from which an assessment counts for it (7: from day 105).
    pub benefit_window_days: u16,
    /// The primary PFS convention.
    pub pfs_censoring: PfsCensoring,
}

/// How a format-2 protocol's primary PFS analysis treats events after missed assessments.
/// Variant order is frozen (§10a.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PfsCensoring {
    /// Every progression or death is an event at its observed date (EMA sensitivity analysis).
    EveryEventObserved,
    /// A progression or death after `missed` or more missed scheduled assessments is censored
    /// at the last adequate assessment (FDA 2018; `missed` = 2).
    AfterMissedAssessments {
        /// Missed assessments from which an event is censored (at least 1).
        missed: u8,
    },
}

/// The cohort catalogue of a protocol document, with the conventions it states (`None` for
/// format 1); `Ok(None)` when the document is of another format (not a catalogue: none in
/// force); an error when it claims to be a catalogue and does not decode canonically.
pub fn protocol_catalogue(
    document_format: u16,
    document: &[u8],
) -> Result<Option<(CohortCatalogue, Option<AnalysisConventions>)>, crate::CanonicalError> {
    match document_format {
        DOCUMENT_FORMAT_COHORT_CATALOGUE => Ok(Some((crate::decode(document)?, None))),
        DOCUMENT_FORMAT_COHORT_CATALOGUE_2 => {
            let c: CohortCatalogue2 = crate::decode(document)?;
            Ok(Some((c.catalogue, Some(c.conventions))))
        }
        _ => Ok(None),
    }
}

/// One cohort: one tumour type (or any) x one molecular alteration x one drug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortDefinition {
    /// Cohort id; also the cohort subject's name.
    pub cohort_id: Name,
    /// OncoTree code of the tumour type, or `None` for tumour-agnostic cohorts.
    pub tumour_type: Option<String>,
    /// The molecular rule a patient's sequencing result must satisfy.
    pub biomarker: BiomarkerRule,
    /// Drug or regimen.
    pub drug: String,
    /// Patients treated in stage 1 (DRUP: 8).
    pub stage1_size: u16,
    /// Benefits needed in stage 1 to expand (DRUP: 1).
    pub stage1_threshold: u16,
    /// Patients treated by the end of stage 2 (DRUP: 24).
    pub stage2_size: u16,
    /// Benefits needed among those to be positive (DRUP: 5).
    pub stage2_threshold: u16,
    /// Largest number of patients the cohort may hold in all, stage-3 expansion included
    /// (a cap equal to `stage2_size` means no expansion).
    pub expansion_cap: u32,
}

/// A molecular eligibility rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BiomarkerRule {
    /// An alteration of `gene` of one of `kinds`, optionally a specific protein change.
    Alteration {
        /// HGNC gene symbol.
        gene: String,
        /// Accepted alteration kinds.
        kinds: Vec<AlterationKind>,
        /// HGVS protein change required (e.g. `p.V600E`), if any.
        protein_change: Option<String>,
    },
    /// An amplification of `gene` to at least this copy number (x100).
    Amplification {
        /// HGNC gene symbol.
        gene: String,
        /// Minimum copy number, hundredths.
        min_copy_number_x100: u32,
    },
    /// A fusion involving `gene` (and `partner`, if given).
    Fusion {
        /// HGNC gene symbol.
        gene: String,
        /// Required partner gene, if any.
        partner: Option<String>,
    },
    /// Microsatellite-instability high.
    MsiHigh,
    /// Tumour mutational burden at least this many mutations per megabase (x100).
    TmbAtLeast {
        /// Threshold, hundredths of mutations per megabase.
        mut_per_mb_x100: u32,
    },
}

// ---------------------------------------------------------------- patient registration

/// A patient enters screening. The subject is the patient's pseudonym; any identifying data
/// goes encrypted in the envelope's personal-data field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientRegistered {
    /// Tumour type, OncoTree code (e.g. `COAD`).
    pub tumour_type: String,
    /// Treating site.
    pub site: String,
    /// Date of registration.
    pub registered_on: Date,
}

/// Informed consent given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecorded {
    /// Version of the consent form.
    pub form_version: String,
    /// Date signed.
    pub consented_on: Date,
}

/// Consent withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentWithdrawn {
    /// Date withdrawn.
    pub withdrawn_on: Date,
    /// Whether survival follow-up is still allowed.
    pub follow_up_allowed: bool,
    /// Reason, if given.
    pub reason: String,
}

// ---------------------------------------------------------------- sequencing and matching

/// Kind of a molecular alteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlterationKind {
    /// Single-nucleotide variant or small insertion/deletion.
    SnvIndel,
    /// Copy-number amplification.
    Amplification,
    /// Copy-number deletion (loss).
    Deletion,
    /// Gene fusion.
    Fusion,
    /// Splice-site variant.
    Splice,
    /// Structural or other.
    Other,
}

/// Microsatellite status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MsiStatus {
    /// Microsatellite stable.
    Stable,
    /// Microsatellite-instability high.
    High,
    /// Not determinable.
    Indeterminate,
}

/// One alteration found by sequencing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alteration {
    /// HGNC gene symbol.
    pub gene: String,
    /// Kind.
    pub kind: AlterationKind,
    /// HGVS protein change, where it applies (e.g. `p.V600E`).
    pub protein_change: Option<String>,
    /// Copy number x100, for amplifications and deletions.
    pub copy_number_x100: Option<u32>,
    /// Partner gene, for fusions.
    pub fusion_partner: Option<String>,
    /// Variant allele fraction in basis points (1/100 of a percent), for variants.
    pub vaf_bp: Option<u16>,
}

/// A whole-genome sequencing result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequencingResultReported {
    /// The lab's sample id.
    pub sample_id: String,
    /// Tumour purity, percent.
    pub purity_pct: u8,
    /// Microsatellite status.
    pub msi: MsiStatus,
    /// Tumour mutational burden, mutations per megabase x100.
    pub tmb_mut_per_mb_x100: u32,
    /// Alterations found.
    pub alterations: Vec<Alteration>,
    /// SHA-256 of the full report file.
    pub report_sha256: Hash32,
    /// Where the report is kept.
    pub report_uri: String,
    /// Date reported.
    pub reported_on: Date,
}

/// A cohort the matcher proposes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchCandidate {
    /// 1 = best.
    pub rank: u16,
    /// The cohort.
    pub cohort_id: Name,
    /// The catalogue rule that matched, in words.
    pub rule: String,
    /// The alteration(s) that satisfied it.
    pub evidence: String,
}

/// An open cohort the matcher did not propose, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchExclusion {
    /// The cohort.
    pub cohort_id: Name,
    /// Why not.
    pub reason: String,
}

/// The matcher's proposal for one sequencing result (which it cites).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchProposed {
    /// The protocol version whose catalogue was used.
    pub protocol_version: u32,
    /// Ranked candidates (empty: no actionable match).
    pub candidates: Vec<MatchCandidate>,
    /// Open cohorts that did not match, with reasons.
    pub not_matched: Vec<MatchExclusion>,
}

/// What the molecular tumour board decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MtbDecision {
    /// Approved for this cohort.
    Approved {
        /// The cohort.
        cohort_id: Name,
    },
    /// Not approved.
    Rejected,
}

/// The MTB's decision on a proposal (which it cites); signed with meaning `approved`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDecided {
    /// The decision.
    pub decision: MtbDecision,
    /// The rationale.
    pub rationale: String,
    /// Date of the meeting.
    pub decided_on: Date,
}

// ---------------------------------------------------------------- slots and enrolment

/// The cohort engine gives a patient a slot (subject: the cohort; cites the MTB approval).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotAssigned {
    /// The patient's pseudonym.
    pub patient: Name,
    /// The stage the slot belongs to (1, 2 or 3).
    pub stage: u8,
    /// Slot number within the cohort, from 1.
    pub slot: u32,
}

/// The cohort engine refuses a slot (subject: the cohort; cites the MTB approval).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotRefused {
    /// The patient's pseudonym.
    pub patient: Name,
    /// Why (cohort closed, full, ...).
    pub reason: String,
}

/// The patient is enrolled (subject: the patient; cites the slot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientEnrolled {
    /// The cohort.
    pub cohort_id: Name,
    /// Date of enrolment.
    pub enrolled_on: Date,
}

// ---------------------------------------------------------------- treatment

/// Unit of a dose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DoseUnit {
    /// Milligrams.
    Mg,
    /// Milligrams per square metre of body surface.
    MgPerM2,
    /// Milligrams per kilogram of body weight.
    MgPerKg,
    /// Micrograms.
    Ug,
    /// International units.
    Iu,
}

/// Route of administration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Route {
    /// By mouth.
    Oral,
    /// Intravenous.
    Intravenous,
    /// Subcutaneous.
    Subcutaneous,
    /// Intramuscular.
    Intramuscular,
    /// Other.
    Other,
}

/// A dose given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseAdministered {
    /// Drug.
    pub drug: String,
    /// Dose in thousandths of `unit`.
    pub dose_milli: u64,
    /// Unit.
    pub unit: DoseUnit,
    /// Route.
    pub route: Route,
    /// Treatment cycle, from 1.
    pub cycle: u16,
    /// Day within the cycle, from 1.
    pub day: u16,
    /// Date given.
    pub administered_on: Date,
}

/// A change of dosing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DoseAction {
    /// Reduced to a new dose (thousandths of the unit).
    Reduced {
        /// The new dose.
        new_dose_milli: u64,
    },
    /// Interrupted.
    Interrupted,
    /// Resumed after an interruption.
    Resumed,
    /// Discontinued for good.
    Discontinued,
}

/// Dose reduced, interrupted, resumed or discontinued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseModified {
    /// What changed.
    pub action: DoseAction,
    /// Why.
    pub reason: String,
    /// Date.
    pub modified_on: Date,
}

// ---------------------------------------------------------------- safety

/// Why an adverse event is serious (ICH E2A).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SeriousnessCriterion {
    /// Resulted in death.
    Death,
    /// Life-threatening.
    LifeThreatening,
    /// Required or prolonged hospitalisation.
    Hospitalisation,
    /// Persistent or significant disability.
    Disability,
    /// Congenital anomaly.
    CongenitalAnomaly,
    /// Otherwise medically important.
    MedicallyImportant,
}

/// Attribution of an adverse event to the study drug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Attribution {
    /// Unrelated.
    Unrelated,
    /// Unlikely.
    Unlikely,
    /// Possible.
    Possible,
    /// Probable.
    Probable,
    /// Definite.
    Definite,
}

/// Outcome of an adverse event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AeOutcome {
    /// Not resolved.
    Ongoing,
    /// Resolved.
    Recovered,
    /// Resolved with sequelae.
    RecoveredWithSequelae,
    /// Fatal.
    Fatal,
    /// Unknown.
    Unknown,
}

/// An adverse event, first report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdverseEventReported {
    /// The AE id, unique per patient; follow-ups use it.
    pub ae_id: u32,
    /// CTCAE v5 term.
    pub ctcae_term: String,
    /// CTCAE grade 1-5.
    pub grade: u8,
    /// Seriousness criteria met; empty means not serious.
    pub serious: Vec<SeriousnessCriterion>,
    /// Whether it is expected per the reference safety information.
    pub expected: bool,
    /// Attribution to the study drug.
    pub attribution: Attribution,
    /// Onset (may be partial).
    pub onset: PartialDate,
    /// When the sponsor became aware: the SUSAR clock starts here.
    pub awareness: Date,
    /// Outcome so far.
    pub outcome: AeOutcome,
}

/// Follow-up on an adverse event: its evolution, not a correction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdverseEventUpdated {
    /// The AE id reported earlier.
    pub ae_id: u32,
    /// Current CTCAE grade 1-5.
    pub grade: u8,
    /// Current seriousness criteria.
    pub serious: Vec<SeriousnessCriterion>,
    /// Expectedness, as now judged.
    pub expected: bool,
    /// Attribution, as now judged.
    pub attribution: Attribution,
    /// Outcome.
    pub outcome: AeOutcome,
    /// Date of this follow-up information.
    pub awareness: Date,
    /// Resolution date, once resolved.
    pub resolved_on: Option<Date>,
}

// ---------------------------------------------------------------- response

/// A target lesion measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetLesion {
    /// Lesion id, stable across assessments.
    pub lesion_id: u32,
    /// Lymph node (measured by short axis).
    pub nodal: bool,
    /// Longest diameter, or short axis for nodes, in tenths of a millimetre.
    pub diameter_mm10: u32,
}

/// Status of the non-target lesions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NonTargetStatus {
    /// There are no non-target lesions.
    NoneAtBaseline,
    /// All have disappeared.
    Absent,
    /// Present, neither CR nor PD.
    Present,
    /// Unequivocal progression.
    UnequivocalProgression,
    /// Not assessed.
    NotAssessed,
}

/// RECIST 1.1 overall response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OverallResponse {
    /// Complete response.
    CompleteResponse,
    /// Partial response.
    PartialResponse,
    /// Stable disease.
    StableDisease,
    /// Progressive disease.
    ProgressiveDisease,
    /// Not evaluable.
    NotEvaluable,
}

/// A tumour assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseAssessed {
    /// Date of imaging.
    pub assessed_on: Date,
    /// Whether this is the baseline assessment.
    pub baseline: bool,
    /// Target lesions.
    pub targets: Vec<TargetLesion>,
    /// Whether new lesions appeared.
    pub new_lesions: bool,
    /// Non-target lesions.
    pub non_target: NonTargetStatus,
    /// The investigator's overall response (kept; disagreements with the computed one are flagged).
    pub investigator_response: OverallResponse,
}

// ---------------------------------------------------------------- end of treatment and survival

/// Why treatment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndReason {
    /// Disease progression.
    Progression,
    /// Unacceptable toxicity.
    Toxicity,
    /// Death.
    Death,
    /// Consent withdrawn.
    ConsentWithdrawn,
    /// Investigator's decision.
    InvestigatorDecision,
    /// Planned treatment completed.
    Completed,
    /// Other.
    Other,
}

/// End of treatment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreatmentEnded {
    /// Date of the last treatment decision.
    pub ended_on: Date,
    /// Why.
    pub reason: EndReason,
    /// Details.
    pub detail: String,
}

/// Survival follow-up: the patient was known to be alive on this date (for censoring OS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurvivalStatusRecorded {
    /// Last date known alive.
    pub last_known_alive: Date,
}

/// Death.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeathRecorded {
    /// Date of death.
    pub died_on: Date,
    /// Cause, in words.
    pub cause: String,
    /// Whether the investigator judges it treatment-related.
    pub treatment_related: bool,
}

// ---------------------------------------------------------------- cohort decisions

/// A cohort's status in the two-stage design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CohortStatus {
    /// Stage 1 is enrolling.
    Stage1,
    /// Stage 2 is enrolling.
    Stage2,
    /// Closed: stage 1 showed no benefit.
    ClosedForFutility,
    /// Closed: stage 2 showed too few benefits.
    CompletedNegative,
    /// Positive: candidate for expansion and reimbursement.
    Positive,
    /// Stage-3 expansion is enrolling.
    Expansion,
    /// The expansion reached its cap.
    ExpansionComplete,
}

/// The cohort engine's stage decision (subject: the cohort; cites the records it counted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortStageDecided {
    /// The new status.
    pub status: CohortStatus,
    /// Patients enrolled so far.
    pub enrolled: u32,
    /// Evaluable patients counted.
    pub evaluable: u32,
    /// Of those, with clinical benefit.
    pub benefits: u32,
    /// Enrolled patients found not evaluable; each frees a slot for a replacement.
    pub not_evaluable: u32,
}

// ---------------------------------------------------------------- corrections

/// A correction: new content for the record it cites (its first citation), with a reason.
/// Views apply the corrected content; the original stays in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corrected {
    /// Why the original was wrong.
    pub reason: String,
    /// Event type of the corrected content (the same as the original's).
    pub event_type: u16,
    /// Event version of the corrected content.
    pub event_version: u16,
    /// The corrected payload, canonical bytes of that type.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

use clinical_type as ct;
payload!(
    PatientRegistered,
    ct::PATIENT_REGISTERED,
    "PatientRegistered"
);
payload!(ConsentRecorded, ct::CONSENT_RECORDED, "ConsentRecorded");
payload!(ConsentWithdrawn, ct::CONSENT_WITHDRAWN, "ConsentWithdrawn");
payload!(
    SequencingResultReported,
    ct::SEQUENCING_RESULT_REPORTED,
    "SequencingResultReported"
);
payload!(MatchProposed, ct::MATCH_PROPOSED, "MatchProposed");
payload!(MatchDecided, ct::MATCH_DECIDED, "MatchDecided");
payload!(SlotAssigned, ct::SLOT_ASSIGNED, "SlotAssigned");
payload!(SlotRefused, ct::SLOT_REFUSED, "SlotRefused");
payload!(PatientEnrolled, ct::PATIENT_ENROLLED, "PatientEnrolled");
payload!(DoseAdministered, ct::DOSE_ADMINISTERED, "DoseAdministered");
payload!(DoseModified, ct::DOSE_MODIFIED, "DoseModified");
payload!(
    AdverseEventReported,
    ct::ADVERSE_EVENT_REPORTED,
    "AdverseEventReported"
);
payload!(
    AdverseEventUpdated,
    ct::ADVERSE_EVENT_UPDATED,
    "AdverseEventUpdated"
);
payload!(ResponseAssessed, ct::RESPONSE_ASSESSED, "ResponseAssessed");
payload!(TreatmentEnded, ct::TREATMENT_ENDED, "TreatmentEnded");
payload!(
    SurvivalStatusRecorded,
    ct::SURVIVAL_STATUS_RECORDED,
    "SurvivalStatusRecorded"
);
payload!(DeathRecorded, ct::DEATH_RECORDED, "DeathRecorded");
payload!(
    CohortStageDecided,
    ct::COHORT_STAGE_DECIDED,
    "CohortStageDecided"
);
payload!(Corrected, ct::CORRECTED, "Corrected");
