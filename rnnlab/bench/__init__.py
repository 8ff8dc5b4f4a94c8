"""Benchmarks, printed as ratios against a reference measured side by side in the same run.

* :mod:`~rnnlab.bench.timing`: sizes, timed calls, medians of interleaved repeats.
* :mod:`~rnnlab.bench.layers`: rnnlab's LSTM, GRU and RNN (native and unrolled) against torch.nn's.
* :mod:`~rnnlab.bench.scan`: minGRU and minLSTM (parallel scan) against torch.nn's GRU and LSTM.
* :mod:`~rnnlab.bench.seq2seq`: the G2P training step with input feeding, stepped and fused.
* :mod:`~rnnlab.bench.dropout`: rnnlab's dropout against torch's, alone and in the G2P step.
* :mod:`~rnnlab.bench.train`: training throughput on 1 and more processes.
* :mod:`~rnnlab.bench.explore`: the explorer page of a long input, loaded in headless Chromium;
  :mod:`~rnnlab.bench.browser` drives that browser (for the page's tests and screenshots too).

``rnnlab bench ...`` (or ``python -m rnnlab.bench ...``) runs them.  Imports every floor below the
CLI; nothing imports bench but the CLI.
"""
