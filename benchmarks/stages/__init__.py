"""One module per stage of the bench, each a function returning its table section."""
