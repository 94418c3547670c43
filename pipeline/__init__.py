"""Raw public sources -> canonical Parquet tables (members, rollcalls, votes, bills, cosponsorships)."""
