//! CDISC Dataset-JSON v1.1: the SDTM domains and ADaM datasets of a dossier, each row naming the
//! ledger records it comes from, and the `define.xml` (Define-XML 2.1) that describes them.
