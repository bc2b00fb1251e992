"""The exported LSTM matches PyTorch at any batch size."""

import numpy as np
import onnxruntime as ort
import torch

from understudy_trainer import lstm
from test_prophet_onnx import synthetic


def test_onnx_matches_pytorch_with_dynamic_batch(tmp_path):
    torch.set_num_threads(1)
    series = [synthetic("a", 3, 40, 0.5, 1), synthetic("b", 3, 20, -1.0, 2)]
    series[1].resource = "mem"
    model = lstm.train(series, epochs=1, stride=8, log=lambda _m: None)
    model.eval()
    lstm.calibrate(model, series, 0.8)
    path = tmp_path / "lstm.onnx"
    lstm.export(model, path)
    session = ort.InferenceSession(str(path))
    x, _, _ = lstm.make_windows(series, stride=37)
    for batch in (1, 7, len(x)):
        with torch.no_grad():
            ref = [t.numpy() for t in model(torch.from_numpy(x[:batch]))]
        got = session.run(["yhat", "yhat_lower", "yhat_upper"], {"x": x[:batch]})
        for g, r in zip(got, ref):
            assert g.shape == (batch, lstm.HORIZON, 4)
            assert np.max(np.abs(g - r) / np.maximum(np.abs(r), 1.0)) < 1e-5


def test_calendar_features_known_values():
    # 2026-11-30 00:00 UTC is a Monday at midnight: hour and day-of-week angles are both 0.
    seconds = np.array([1_795_996_800.0])
    f = lstm.calendar_features(seconds)[0]
    assert np.allclose(f, [0, 1, 0, 1], atol=1e-9)
