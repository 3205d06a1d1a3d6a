"""Featurization and collection as Ray Data pipelines, written as Parquet shards.

The paper's setting (a 7B model, thousands of queries, 64-100 samples each) is days
of single-process work. This module runs the two LM-bound steps on a Ray cluster
(or a local Ray instance) with the results written as Parquet shards in a folder:

* :func:`featurize` computes :class:`~skadapt.HiddenStateFeaturizer` features;
  :func:`read_features` returns them as the ``(n, d)`` array that
  ``featurizer.fit_transform(queries)`` returns, in query order.
* :func:`collect` samples and verifies answers with
  :func:`skadapt.sampling.sample_and_score`; :func:`read_collection` returns the
  :class:`~skadapt.sampling.SamplingResult` that a single ``sample_and_score``
  call returns (feed it to :func:`skadapt.datasets.write_dataset` to get the
  dataset files ``skadapt collect`` writes).

How the work is split. The queries are cut into shards of whole LM batches; each
shard is one row of a Ray Data dataset, mapped by a fixed pool of actors that each
load the LM once (``map_batches`` with an ``ActorPoolStrategy``). An actor writes
each shard it finishes under a name derived from the shard's range and a digest of
the run's settings and the shard's queries, to a temporary name first and then
renamed, so a killed run leaves whole shards only.
A restarted call skips the shards already there; a folder written with other
settings (other weights, verifier, sampling parameters, queries or shard size) is
refused with a message naming what differs (the run's identity is kept in
``skadapt-shards.json``).

Why the results equal the single-process ones. Per-query seeds are what
:mod:`skadapt.sampling` uses already (query ``q`` samples from
``query_seed(random_state, q)``), but an LM's floating-point output for a query
also depends, in its last bits, on which other queries share its padded batch. So
the shards are made of the very batches the single-process path forms: for
sampling, consecutive ``batch_size`` queries (as ``skadapt collect --part`` does);
for features, consecutive ``batch_size`` queries of the length-sorted order that
:class:`~skadapt.HiddenStateFeaturizer` uses (the driver tokenizes the queries to
sort them, without loading weights). With the same settings, library versions,
hardware and number of torch threads, the outputs are bitwise the single-process
ones whatever the number of actors.

Ray is an optional extra: ``pip install "skadapt[ray]"``. This module imports it
only when a pipeline runs; the readers need only pyarrow.
"""

# One concern per private module: the shard folder and the Ray plumbing both
# pipelines share (_shards), featurization (_ray_features) and collection
# (_ray_collection). The Ray actors live there too and travel to the workers by
# reference to those modules.
from ._ray_collection import collect, read_collection
from ._ray_features import featurize, read_features
# the folder format's constants, and the actors' weight check (tests call it)
from ._shards import (  # noqa: F401
    DEFAULT_BATCHES_PER_SHARD,
    FORMAT_VERSION,
    MANIFEST,
    ShardReport,
    _check_same_weights,
)

__all__ = [
    "ShardReport",
    "collect",
    "featurize",
    "read_collection",
    "read_features",
]
