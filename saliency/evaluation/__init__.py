"""Can the map be trusted? evaluate, its metrics, randomisation, decay, and batch's summary."""
