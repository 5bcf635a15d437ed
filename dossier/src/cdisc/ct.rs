//! Controlled terminology, hand-coded: the CDISC CT codelists the datasets use (with their NCI
//! codes), and the sponsor-defined ones (`PARAMCD`s, the CTCAE grade, test codes).
//!
//! The CDISC codelists are those of [`CT_VERSION`]; a value the ledger can hold is mapped to
//! exactly one term (see the functions below). Sponsor-defined codelists say so in
//! `define.xml` and carry no NCI code.

use tl_clinical::Response;
use tl_schemas::clinical::{AeOutcome, Attribution, DoseUnit, EndReason, Route};

/// The CDISC Controlled Terminology package the codelists are taken from.
pub const CT_VERSION: &str = "2024-09-27";

/// One term of a codelist: submission value, decode, NCI code (CDISC CT only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    /// Submission value.
    pub value: &'static str,
    /// Decode (long name).
    pub decode: &'static str,
    /// NCI concept code, for CDISC CT terms.
    pub nci: Option<&'static str>,
}

/// A codelist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codelist {
    /// Short id; the Define-XML OID is `CL.<id>`.
    pub id: &'static str,
    /// Name.
    pub name: &'static str,
    /// NCI code of a CDISC codelist; `None` for a sponsor-defined one.
    pub nci: Option<&'static str>,
    /// Terms.
    pub terms: &'static [Term],
}

const fn t(value: &'static str, decode: &'static str, nci: &'static str) -> Term {
    Term {
        value,
        decode,
        nci: Some(nci),
    }
}

const fn s(value: &'static str, decode: &'static str) -> Term {
    Term {
        value,
        decode,
        nci: None,
    }
}

/// SEX (C66731). The ledger records no sex: every subject is `U`.
pub const SEX: Codelist = Codelist {
    id: "SEX",
    name: "Sex",
    nci: Some("C66731"),
    terms: &[t("U", "Unknown", "C17998")],
};

/// NY (C66742): `AESER` and the seriousness flags, `DTHFL` and ADaM flags.
pub const NY: Codelist = Codelist {
    id: "NY",
    name: "No Yes Response",
    nci: Some("C66742"),
    terms: &[t("N", "No", "C49487"), t("Y", "Yes", "C49488")],
};

/// OUT (C66768): `AEOUT`.
pub const OUT: Codelist = Codelist {
    id: "OUT",
    name: "Outcome of Event",
    nci: Some("C66768"),
    terms: &[
        t("FATAL", "Fatal", "C48275"),
        t(
            "NOT RECOVERED/NOT RESOLVED",
            "Not Recovered or Not Resolved",
            "C49494",
        ),
        t("RECOVERED/RESOLVED", "Recovered or Resolved", "C49498"),
        t(
            "RECOVERED/RESOLVED WITH SEQUELAE",
            "Recovered or Resolved with Sequelae",
            "C49495",
        ),
        t("UNKNOWN", "Unknown", "C17998"),
    ],
};

/// ACN (C66767): `AEACN`. The ledger does not link dose changes to adverse events, so every
/// event's action is `UNKNOWN` rather than a guess.
pub const ACN: Codelist = Codelist {
    id: "ACN",
    name: "Action Taken with Study Treatment",
    nci: Some("C66767"),
    terms: &[t("UNKNOWN", "Unknown", "C17998")],
};

/// `AETOXGR`: CDISC CT has no codelist for it; the values are CTCAE v5.0 grades.
pub const TOXGR: Codelist = Codelist {
    id: "AETOXGR",
    name: "CTCAE v5.0 grade (sponsor-defined)",
    nci: None,
    terms: &[
        s("1", "Grade 1, mild"),
        s("2", "Grade 2, moderate"),
        s("3", "Grade 3, severe or medically significant"),
        s("4", "Grade 4, life-threatening"),
        s("5", "Grade 5, death related to the adverse event"),
    ],
};

/// `AEREL`: the ledger's five-level attribution (sponsor-defined).
pub const REL: Codelist = Codelist {
    id: "AEREL",
    name: "Attribution to study drug (sponsor-defined)",
    nci: None,
    terms: &[
        s("UNRELATED", "Unrelated"),
        s("UNLIKELY RELATED", "Unlikely related"),
        s("POSSIBLY RELATED", "Possibly related"),
        s("PROBABLY RELATED", "Probably related"),
        s("DEFINITELY RELATED", "Definitely related"),
    ],
};

/// Oncology response (ONCRSR, C96785): `RSSTRESC` and ADRS `AVALC`. The terms' own NCI codes
/// are not hand-coded here (only the codelist's); `define.xml` therefore names none for them.
pub const ONCRSR: Codelist = Codelist {
    id: "ONCRSR",
    name: "Oncology Response Assessment Result",
    nci: Some("C96785"),
    terms: &[
        s("CR", "Complete Response"),
        s("PR", "Partial Response"),
        s("SD", "Stable Disease"),
        s("PD", "Progressive Disease"),
        s("NE", "Not Evaluable"),
        s("NON-CR/NON-PD", "Non-CR/Non-PD"),
    ],
};

/// Every codelist `define.xml` describes, apart from the per-dataset `PARAMCD` lists.
pub const ALL: &[Codelist] = &[SEX, NY, OUT, ACN, TOXGR, REL, ONCRSR];

/// `AEOUT` of a recorded outcome.
pub fn outcome(o: AeOutcome) -> &'static str {
    match o {
        AeOutcome::Ongoing => "NOT RECOVERED/NOT RESOLVED",
        AeOutcome::Recovered => "RECOVERED/RESOLVED",
        AeOutcome::RecoveredWithSequelae => "RECOVERED/RESOLVED WITH SEQUELAE",
        AeOutcome::Fatal => "FATAL",
        AeOutcome::Unknown => "UNKNOWN",
    }
}

/// `AEREL` of a recorded attribution.
pub fn relation(a: Attribution) -> &'static str {
    match a {
        Attribution::Unrelated => "UNRELATED",
        Attribution::Unlikely => "UNLIKELY RELATED",
        Attribution::Possible => "POSSIBLY RELATED",
        Attribution::Probable => "PROBABLY RELATED",
        Attribution::Definite => "DEFINITELY RELATED",
    }
}

/// `RSSTRESC` / `AVALC` of a response, and its rank (`AVAL`: 1 best, 5 NE).
pub fn response(r: Response) -> (&'static str, i64) {
    match r {
        Response::CompleteResponse => ("CR", 1),
        Response::PartialResponse => ("PR", 2),
        Response::StableDisease => ("SD", 3),
        Response::ProgressiveDisease => ("PD", 4),
        Response::NotEvaluable => ("NE", 5),
    }
}

/// `EXDOSU` (CDISC UNIT submission values) of a recorded unit, and the ADEX `PARAMCD` suffix.
pub fn unit(u: DoseUnit) -> (&'static str, &'static str) {
    match u {
        DoseUnit::Mg => ("mg", "MG"),
        DoseUnit::MgPerM2 => ("mg/m2", "MGM2"),
        DoseUnit::MgPerKg => ("mg/kg", "MGKG"),
        DoseUnit::Ug => ("ug", "UG"),
        DoseUnit::Iu => ("IU", "IU"),
    }
}

/// `EXROUTE` (CDISC ROUTE submission values) of a recorded route; `Other` is not a route CT
/// names, so it stays missing.
pub fn route(r: Route) -> Option<&'static str> {
    match r {
        Route::Oral => Some("ORAL"),
        Route::Intravenous => Some("INTRAVENOUS"),
        Route::Subcutaneous => Some("SUBCUTANEOUS"),
        Route::Intramuscular => Some("INTRAMUSCULAR"),
        Route::Other => None,
    }
}

/// `DSDECOD` (CDISC NCOMPLT) of an end of treatment.
pub fn end_reason(r: EndReason) -> &'static str {
    match r {
        EndReason::Progression => "PROGRESSIVE DISEASE",
        EndReason::Toxicity => "ADVERSE EVENT",
        EndReason::Death => "DEATH",
        EndReason::ConsentWithdrawn => "WITHDRAWAL BY SUBJECT",
        EndReason::InvestigatorDecision => "PHYSICIAN DECISION",
        EndReason::Completed => "COMPLETED",
        EndReason::Other => "OTHER",
    }
}
