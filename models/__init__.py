"""Shipped model files (installed as saliency.models); see README.md here for how each was made."""
