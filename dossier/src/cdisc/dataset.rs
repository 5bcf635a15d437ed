//! One dataset: its columns, its rows (each with the ledger records it comes from), and its
//! Dataset-JSON v1.1 bytes.

use serde::Serialize;
use serde_json::Value as Json;
use tl_schemas::Reference;

/// A column's logical type: Dataset-JSON's `dataType` and Define-XML's `DataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// Text: a JSON string (Define-XML `text`).
    Text,
    /// Integer: a JSON integer.
    Integer,
    /// Decimal: a JSON string with `.` as the separator, `targetDataType` `decimal`
    /// (Define-XML `float`), so no value is ever rounded through binary floating point.
    Decimal,
    /// Date: an ISO 8601 date (or partial date, `YYYY` or `YYYY-MM`) as a JSON string. In ADaM
    /// datasets it carries `targetDataType` `integer` (a numeric date once imported; Define-XML
    /// `integer` with display format `E8601DA.`).
    Date,
}

impl DataType {
    /// The Dataset-JSON `dataType`.
    pub fn json_name(self) -> &'static str {
        match self {
            DataType::Text => "string",
            DataType::Integer => "integer",
            DataType::Decimal => "decimal",
            DataType::Date => "date",
        }
    }
}

/// Where a variable's values come from (Define-XML 2.1 `def:Origin/@Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Recorded by the investigator, lab or MTB in a signed ledger record.
    Collected,
    /// Computed by this package from other values.
    Derived,
    /// Set by the sponsor (fixed values, identifiers, provenance).
    Assigned,
    /// Stated by the protocol document (the cohort catalogue).
    Protocol,
    /// Copied from an SDTM or ADSL variable of the same name.
    Predecessor,
}

impl Origin {
    /// The Define-XML origin type.
    pub fn define_name(self) -> &'static str {
        match self {
            Origin::Collected => "Collected",
            Origin::Derived => "Derived",
            Origin::Assigned => "Assigned",
            Origin::Protocol => "Protocol",
            Origin::Predecessor => "Predecessor",
        }
    }
}

/// One variable of a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Variable name (at most 8 characters).
    pub name: &'static str,
    /// Variable label (at most 40 characters).
    pub label: &'static str,
    /// Logical type.
    pub data_type: DataType,
    /// Key variable order (`keySequence`), if a key.
    pub key: Option<u32>,
    /// The codelist its values are drawn from ([`super::ct`]), if any.
    pub codelist: Option<&'static str>,
    /// Where its values come from.
    pub origin: Origin,
    /// How it is derived or what it means beyond its label (Define-XML comment).
    pub comment: Option<&'static str>,
}

impl Column {
    /// A column with no key, codelist or comment.
    pub fn new(
        name: &'static str,
        label: &'static str,
        data_type: DataType,
        origin: Origin,
    ) -> Self {
        Column {
            name,
            label,
            data_type,
            key: None,
            codelist: None,
            origin,
            comment: None,
        }
    }
    /// The same column as key number `k`.
    pub fn key(mut self, k: u32) -> Self {
        self.key = Some(k);
        self
    }
    /// The same column with values from codelist `cl`.
    pub fn codelist(mut self, cl: &'static str) -> Self {
        self.codelist = Some(cl);
        self
    }
    /// The same column with a comment.
    pub fn comment(mut self, c: &'static str) -> Self {
        self.comment = Some(c);
        self
    }
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Missing (JSON `null`).
    Null,
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Decimal, as its exact decimal text (`"45.3"`).
    Decimal(String),
    /// ISO 8601 date or partial date.
    Date(String),
}

impl Value {
    /// The value as Dataset-JSON writes it.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Text(s) | Value::Decimal(s) | Value::Date(s) => Json::String(s.clone()),
            Value::Int(i) => Json::from(*i),
        }
    }
    /// Characters of its text form (for Define-XML lengths).
    fn text_len(&self) -> usize {
        match self {
            Value::Null => 0,
            Value::Text(s) | Value::Decimal(s) | Value::Date(s) => s.chars().count(),
            Value::Int(i) => i.to_string().len(),
        }
    }
}

/// One row and the ledger records it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// One value per column, in column order.
    pub values: Vec<Value>,
    /// The ledger records the row comes from (never empty).
    pub sources: Vec<Reference>,
}

/// Which CDISC model a dataset follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standard {
    /// SDTMIG 3.4 tabulation.
    Sdtm,
    /// ADaMIG 1.3 analysis.
    Adam,
}

/// A dataset: SDTM domain, SUPPQUAL or ADaM dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Dataset name (`DM`, `SUPPDM`, `ADTTE`, ...).
    pub name: String,
    /// Dataset label.
    pub label: String,
    /// SDTM or ADaM.
    pub standard: Standard,
    /// The CDISC class (`EVENTS`, `BASIC DATA STRUCTURE`, ...).
    pub class: &'static str,
    /// Define-XML structure (`One record per subject`, ...).
    pub structure: &'static str,
    /// Columns, in order.
    pub columns: Vec<Column>,
    /// Rows, in order.
    pub rows: Vec<Row>,
}

/// The file-level attributes every dataset of a package shares.
#[derive(Clone, Debug)]
pub(crate) struct FileMeta {
    /// `datasetJSONCreationDateTime`.
    pub created: String,
    /// `studyOID`.
    pub study_oid: String,
    /// `metaDataVersionOID`.
    pub mdv_oid: String,
}

/// Dataset-JSON v1.1 in the specification's attribute order.
#[derive(Serialize)]
struct FileJson<'a> {
    #[serde(rename = "datasetJSONCreationDateTime")]
    created: &'a str,
    #[serde(rename = "datasetJSONVersion")]
    version: &'static str,
    #[serde(rename = "fileOID")]
    file_oid: String,
    originator: &'static str,
    #[serde(rename = "sourceSystem")]
    source_system: SourceSystem,
    #[serde(rename = "studyOID")]
    study_oid: &'a str,
    #[serde(rename = "metaDataVersionOID")]
    mdv_oid: &'a str,
    #[serde(rename = "metaDataRef")]
    meta_data_ref: &'static str,
    #[serde(rename = "itemGroupOID")]
    item_group_oid: String,
    records: usize,
    name: &'a str,
    label: &'a str,
    columns: Vec<ColumnJson>,
    rows: Vec<Vec<Json>>,
}

#[derive(Serialize)]
struct SourceSystem {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct ColumnJson {
    #[serde(rename = "itemOID")]
    item_oid: String,
    name: &'static str,
    label: &'static str,
    #[serde(rename = "dataType")]
    data_type: &'static str,
    #[serde(rename = "targetDataType", skip_serializing_if = "Option::is_none")]
    target: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    length: Option<usize>,
    #[serde(rename = "displayFormat", skip_serializing_if = "Option::is_none")]
    display_format: Option<&'static str>,
    #[serde(rename = "keySequence", skip_serializing_if = "Option::is_none")]
    key: Option<u32>,
}

impl Dataset {
    /// An empty dataset.
    pub(crate) fn new(
        name: &str,
        label: &str,
        standard: Standard,
        class: &'static str,
        structure: &'static str,
        columns: Vec<Column>,
    ) -> Self {
        Dataset {
            name: name.to_string(),
            label: label.to_string(),
            standard,
            class,
            structure,
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row. Its arity is checked by the package's validation test; here only in debug
    /// builds, since every caller is this module.
    pub(crate) fn push(&mut self, values: Vec<Value>, sources: Vec<Reference>) {
        debug_assert_eq!(values.len(), self.columns.len(), "{} row arity", self.name);
        self.rows.push(Row { values, sources });
    }

    /// The file name in the package (`dm.json`).
    pub fn file_name(&self) -> String {
        format!("{}.json", self.name.to_lowercase())
    }

    /// `itemGroupOID`, the ItemGroupDef OID in `define.xml`.
    pub fn item_group_oid(&self) -> String {
        format!("IG.{}", self.name)
    }

    /// The `itemOID` of a column, the ItemDef OID in `define.xml`.
    pub fn item_oid(&self, column: &Column) -> String {
        format!("IT.{}.{}", self.name, column.name)
    }

    /// Index of the column named `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The planned length of a column: the longest value's text (at least 1); `None` for
    /// dates (ISO 8601, fixed by their type).
    pub fn length(&self, i: usize) -> Option<usize> {
        if self.columns[i].data_type == DataType::Date {
            return None;
        }
        let longest = self.rows.iter().map(|r| r.values[i].text_len()).max();
        Some(longest.unwrap_or(0).max(1))
    }

    /// Whether a column is an ADaM numeric date (`targetDataType` `integer`).
    pub fn numeric_date(&self, c: &Column) -> bool {
        self.standard == Standard::Adam && c.data_type == DataType::Date
    }

    /// The rows as Dataset-JSON writes them.
    pub fn json_rows(&self) -> Vec<Vec<Json>> {
        self.rows
            .iter()
            .map(|r| r.values.iter().map(Value::to_json).collect())
            .collect()
    }

    /// The dataset's Dataset-JSON v1.1 bytes.
    pub(crate) fn to_json(&self, meta: &FileMeta) -> Vec<u8> {
        let columns = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let numeric_date = self.numeric_date(c);
                ColumnJson {
                    item_oid: self.item_oid(c),
                    name: c.name,
                    label: c.label,
                    data_type: c.data_type.json_name(),
                    target: match c.data_type {
                        DataType::Decimal => Some("decimal"),
                        DataType::Date if numeric_date => Some("integer"),
                        _ => None,
                    },
                    length: self.length(i),
                    display_format: numeric_date.then_some("E8601DA."),
                    key: c.key,
                }
            })
            .collect();
        let file = FileJson {
            created: &meta.created,
            version: "1.1.0",
            file_oid: format!("{}.{}", meta.study_oid, self.name),
            originator: "trial-ledger",
            source_system: SourceSystem {
                name: "trial-ledger",
                version: env!("CARGO_PKG_VERSION"),
            },
            study_oid: &meta.study_oid,
            mdv_oid: &meta.mdv_oid,
            meta_data_ref: "define.xml",
            item_group_oid: self.item_group_oid(),
            records: self.rows.len(),
            name: &self.name,
            label: &self.label,
            columns,
            rows: self.json_rows(),
        };
        // Serialising plain structs, strings and integers cannot fail.
        let mut out = serde_json::to_vec(&file).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// The ledger record reference as the datasets write it: `partition/seq/record-hash-hex`.
pub fn reference_text(r: &Reference) -> String {
    format!("{}/{}/{}", r.partition, r.seq, r.hash.to_hex())
}

/// Parses [`reference_text`]: partition, sequence number and the record hash's hex.
pub fn parse_reference_text(s: &str) -> Option<(u32, u64, String)> {
    let mut it = s.splitn(3, '/');
    let p = it.next()?.parse().ok()?;
    let q = it.next()?.parse().ok()?;
    let h = it.next()?;
    (h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| (p, q, h.to_string()))
}

/// A text value.
pub(crate) fn txt(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// An integer value.
pub(crate) fn int(i: impl Into<i64>) -> Value {
    Value::Int(i.into())
}

/// A date value.
pub(crate) fn date(d: tl_schemas::Date) -> Value {
    Value::Date(d.to_string())
}

/// A date value, or missing.
pub(crate) fn opt_date(d: Option<tl_schemas::Date>) -> Value {
    d.map_or(Value::Null, date)
}

/// `Y` or `N`.
pub(crate) fn yn(b: bool) -> Value {
    txt(if b { "Y" } else { "N" })
}

/// Tenths of a millimetre as an exact decimal of millimetres (`453` -> `45.3`).
pub(crate) fn mm(mm10: u64) -> Value {
    Value::Decimal(format!("{}.{}", mm10 / 10, mm10 % 10))
}
