"""resemblyzer's GE2E `VoiceEncoder` forward pass in numpy (no torch).

torch: ``_, (hidden, _) = lstm(mels); e = relu(linear(hidden[-1])); e / ||e||`` with a
3-layer unidirectional LSTM (40 -> 256 -> 256 -> 256, batch_first) and a 256 -> 256 linear.
PyTorch packs the four gates as rows [input, forget, cell(g), output] of `weight_ih_l{k}`
/ `weight_hh_l{k}`, with two bias vectors that are simply summed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .weights import load_encoder_weights

HIDDEN = 256
LAYERS = 3
N_MELS = 40
EMBEDDING = 256
# Windows run through the LSTM together; the cap bounds the (batch, frames, 4*hidden)
# input-projection buffer to ~84 MB on long calls.
_MAX_BATCH = 128


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warnings for large negative inputs, same value as 1/(1+e^-x).
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def lstm_step(x_proj: np.ndarray, h: np.ndarray, c: np.ndarray,
              w_hh_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One batched LSTM step. `x_proj` = x @ W_ih.T + b_ih + b_hh, shape (batch, 4*hidden)."""
    gates = x_proj + h @ w_hh_t
    hidden = h.shape[1]
    i = _sigmoid(gates[:, :hidden])
    f = _sigmoid(gates[:, hidden:2 * hidden])
    g = np.tanh(gates[:, 2 * hidden:3 * hidden])
    o = _sigmoid(gates[:, 3 * hidden:])
    c = f * c + i * g
    h = o * np.tanh(c)
    return h, c


def lstm_layer(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
               b_ih: np.ndarray, b_hh: np.ndarray) -> np.ndarray:
    """Full sequence through one layer: (batch, T, in) -> (batch, T, hidden), zero init state."""
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    # The input projection has no recurrence: one big matmul for all time steps.
    x_proj = x @ w_ih.T + (b_ih + b_hh)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    h = np.zeros((batch, hidden), dtype=x.dtype)
    c = np.zeros((batch, hidden), dtype=x.dtype)
    out = np.empty((batch, steps, hidden), dtype=x.dtype)
    for t in range(steps):
        h, c = lstm_step(x_proj[:, t], h, c, w_hh_t)
        out[:, t] = h
    return out


class VoiceEncoder:
    """GE2E speaker encoder: (n, frames, 40) power-mel windows -> (n, 256) unit vectors."""

    def __init__(self, weights: dict[str, np.ndarray] | None = None,
                 weights_path: Path | None = None) -> None:
        self.weights = weights if weights is not None else load_encoder_weights(weights_path)

    def forward(self, mels: np.ndarray) -> np.ndarray:
        x = np.asarray(mels, dtype=np.float32)
        w = self.weights
        for layer in range(LAYERS):
            x = lstm_layer(x, w[f"lstm.weight_ih_l{layer}"], w[f"lstm.weight_hh_l{layer}"],
                           w[f"lstm.bias_ih_l{layer}"], w[f"lstm.bias_hh_l{layer}"])
        last = x[:, -1]  # == hidden[-1]: final hidden state of the last layer
        raw = np.maximum(last @ w["linear.weight"].T + w["linear.bias"], 0.0)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        # An all-zero ReLU output (never seen on speech) would divide by zero; keep it zero.
        return (raw / np.where(norm > 0, norm, 1.0)).astype(np.float32)

    def embed_windows(self, mel_windows: np.ndarray) -> np.ndarray:
        """(n, frames, 40) -> (n, 256); windows of equal length, batched through the LSTM."""
        mel_windows = np.asarray(mel_windows, dtype=np.float32)
        if mel_windows.ndim != 3 or mel_windows.shape[2] != N_MELS:
            raise ValueError(f"expected (n, frames, {N_MELS}), got {mel_windows.shape}")
        if mel_windows.shape[0] == 0:
            return np.zeros((0, EMBEDDING), dtype=np.float32)
        return np.concatenate([self.forward(mel_windows[i:i + _MAX_BATCH])
                               for i in range(0, mel_windows.shape[0], _MAX_BATCH)])
