"""The serving status: may each advertiser's ads serve now, kept seconds behind the source by a
stream of its own. Pure transforms and the fold in `transforms`, the source -> gold_serving_status
stream in `stream`."""
