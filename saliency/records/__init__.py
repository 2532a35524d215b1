"""Records in and out: readers, writers, the batch loop, and the same loop on Ray."""
