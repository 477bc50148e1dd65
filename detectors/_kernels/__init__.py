"""Private vectorised kernels of the detectors, beside the readable ones in ``detectors/``.

A kernel (:class:`detectors._kernels.protocol.Kernel`) advances ``n`` independent instances of
one detector class over rows ``(L, n)`` and gives exactly the detections and final state of the
readable per-value loop. A detector declares its kernel as ``kernel``; its ``update_many`` and
:class:`detectors.bank.DetectorBank` use it. Kernels import nothing from the readable detectors:
they read the detectors' public parameters and share their JSON state
(``state_dict()["state"]``), packed into arrays of a state module that both sides may import.
NM-DDM's batch pass (:mod:`.nm_ddm_window`) is called by the detector directly.

* :mod:`.scheduler` — the one restart-pass scheduler every kernel runs its passes through;
* :mod:`.workspace` — per-thread scratch arrays;
* Page-Hinkley: :mod:`.page_hinkley` (kernel), :mod:`.page_hinkley_state`,
  :mod:`.page_hinkley_passes`, :mod:`.page_hinkley_steady`;
* DDM: :mod:`.ddm` (kernel), :mod:`.ddm_state`, :mod:`.ddm_passes`, :mod:`.ddm_binary`;
* Incremental KS: :mod:`.incremental_ks` (kernel), :mod:`.incremental_ks_state`,
  :mod:`.incremental_ks_corrected` (banks with a multiple-testing correction), :mod:`.ks_path`
  (exact vectorised KS path), :mod:`.treap` (the scalar detector's O(log n) structure);
* NM-DDM: :mod:`.fourier` (exact random Fourier features), :mod:`.nm_ddm_window` (the sliding
  window of feature sums and its batch pass);
* chi-square: :mod:`.chi_square` (kernel), :mod:`.chi_square_state` (the test's table, the
  formulas both sides share, the kernel's padded arrays).
"""
