"""Model code shared by trainers, the platform and the predictor (see README.md here).

Import the submodules directly; `archive`, `embeddings` and `tokenizer` do not import torch.
"""
