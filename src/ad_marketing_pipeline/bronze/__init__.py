"""Bronze: the source's records as received (`transforms`), appended by the source -> Bronze
stream (`stream`)."""
