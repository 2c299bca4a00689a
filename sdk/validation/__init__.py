"""Dataset validators the platform runs as one-time validation tasks (see README: Dataset
versions and validation). Each is a pure function of the file's bytes to a ValidationReport;
`python -m sdk.validation` is the job's entrypoint."""
