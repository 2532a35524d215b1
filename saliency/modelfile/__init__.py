"""The model file: its config, the safetensors checkpoint, the shipped-model registry."""
