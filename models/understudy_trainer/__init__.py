"""Understudy's model trainer: fits Prophet and the global LSTM, exports both to ONNX with a manifest."""
