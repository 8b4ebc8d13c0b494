"""Silver: Bronze records parsed against the contract, validated, de-duplicated; invalid records
quarantined with their reasons. Pure transforms in `transforms`, the Bronze -> Silver stream in
`stream`."""
