"""Dimensionality reducers for vector and image fields, fitted on the reference and stored with
the profile (Rabanser, Günnemann & Lipton, "Failing Loudly", NeurIPS 2019: reduce, then test).

* :mod:`.spec` -- what to fit (``driftline profile --reducer pca:32 ...``);
* :mod:`.base` -- the protocol (:class:`Reducer`: ``transform`` batched in torch) and the
  identity (``none``);
* :mod:`.linear` -- PCA and sparse random projection;
* :mod:`.autoencoder` -- the untrained autoencoder (UAE);
* :mod:`.bbsd` -- the monitored model's softmax or penultimate layer (BBSD);
* :mod:`.store` -- fitting, files beside the profile, loading with hash checks.
"""
