"""skadapt.distributed: featurization and collection on Ray Data give exactly the
single-process results, and a killed or stopped run resumes without losing or
duplicating a query.

One local Ray instance (2 CPUs) serves the whole module.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

ray = pytest.importorskip(
    "ray", reason="Ray is an optional extra: pip install 'skadapt[ray]'")
pytest.importorskip("ray.data", reason="needs ray[data]: pip install 'skadapt[ray]'")
pytest.importorskip("pyarrow", reason="needs pyarrow: pip install 'skadapt[ray]'")

# Ray Data's own configuration warns about its deprecated settings
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")

from skadapt import HiddenStateFeaturizer, distributed  # noqa: E402
from skadapt.sampling import sample_and_score  # noqa: E402
from skadapt.verifiers import exact_numeric  # noqa: E402

# prompts of many lengths, so that the length-sorted order is not the query order
QUERIES = [
    "What is 2 + 2?", "Hi", "Which is larger, 31 or 4? Think step by step.",
    "7 * 6 = ?", "Count the letters r in strawberry, please.", "5 - 3",
    "What is the third letter of the word 'banana'?", "12 + 30", "Add 1 and 1.",
    "Is 9 prime?",
]
ANSWERS = [4, 0, 31, 42, 3, 2, 110, 42, 2, 0]
SAMPLING = dict(n_samples=3, max_new_tokens=6, temperature=1.0, stop_strings=["\n"],
                batch_size=2, random_state=3)


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs, shut down at the end of the module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def single_process(tiny_llama_path, one_torch_thread):
    """Features and samples of the single-process path (one torch thread, as
    in the 1-CPU actors)."""
    X = HiddenStateFeaturizer(tiny_llama_path, batch_size=2).fit_transform(QUERIES)
    res = sample_and_score(tiny_llama_path, QUERIES, ANSWERS, exact_numeric,
                           ids=[f"q{i}" for i in range(len(QUERIES))], **SAMPLING)
    return X, res


def _same_samples(got, want):
    assert got.ids == want.ids
    assert got.completions == want.completions
    np.testing.assert_array_equal(got.rewards, want.rewards)
    np.testing.assert_array_equal(got.n_tokens, want.n_tokens)
    np.testing.assert_array_equal(got.mean_logprob, want.mean_logprob)
    np.testing.assert_array_equal(got.min_logprob, want.min_logprob)
    assert got.errors == want.errors


def test_import_does_not_import_ray():
    code = ("import sys, skadapt, skadapt.distributed; "
            "print('ray' in sys.modules, 'pyarrow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_features_equal_single_process_and_resume(local_ray, single_process,
                                                  tiny_llama_path, tmp_path):
    X_single, _ = single_process
    featurizer = HiddenStateFeaturizer(tiny_llama_path, batch_size=2)
    out = tmp_path / "features"
    # stop after one shard (a time-boxed job), then finish with two actors
    first = distributed.featurize(featurizer, QUERIES, out, shard_size=4,
                                  max_shards=1)
    assert len(first.shards) == 3 and len(first.written) == 1 and not first.complete
    with pytest.raises(ValueError, match="2 of 3 shards are missing"):
        distributed.read_features(out)
    second = distributed.featurize(featurizer, QUERIES, out, shard_size=4,
                                   num_actors=2)
    assert second.skipped == first.written
    assert sorted(second.written + second.skipped) == sorted(second.shards)
    assert second.complete
    X, ids = distributed.read_features(out, return_ids=True)
    assert ids == list(range(len(QUERIES)))
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, X_single)  # bitwise, not approximately
    # the shards hold the length-sorted order (the featurizer's batches), not
    # the query order
    manifest = json.loads((out / distributed.MANIFEST).read_text())
    order = [p for s in manifest["shards"] for p in s["positions"]]
    assert sorted(order) == list(range(len(QUERIES))) and order != sorted(order)
    # nothing left to do
    third = distributed.featurize(featurizer, QUERIES, out, shard_size=4)
    assert third.written == [] and len(third.skipped) == 3
    # another layer is another run: refused, naming the setting
    with pytest.raises(ValueError, match=r"featurizer\.layer"):
        distributed.featurize(HiddenStateFeaturizer(tiny_llama_path, batch_size=2,
                                                    layer=1), QUERIES, out,
                              shard_size=4)


KILLED_RUN = textwrap.dedent("""
    import sys, time
    import ray
    from skadapt import distributed
    from skadapt.verifiers import exact_numeric

    def stalling(completion, reference, _calls=[]):
        # the rewards of exact_numeric; stalls once the actor's first shard
        # (whichever Ray Data hands it first) is scored
        _calls.append(None)
        if len(_calls) > {per_shard}:
            time.sleep(600)
        return exact_numeric(completion, reference)

    ray.init(address={address!r}, log_to_driver=False, configure_logging=False)
    distributed.collect({model!r}, {queries!r}, {answers!r}, stalling,
                        output={output!r}, ids={ids!r}, shard_size=2,
                        verifier_id="exact_numeric", **{sampling!r})
""")


def test_collection_equals_single_process_after_kill(local_ray, single_process,
                                                    tiny_llama_path, tmp_path):
    _, want = single_process
    out = tmp_path / "samples"
    ids = [f"q{i}" for i in range(len(QUERIES))]
    script = KILLED_RUN.format(per_shard=2 * SAMPLING["n_samples"],
                               address=local_ray, model=tiny_llama_path,
                               queries=QUERIES, answers=ANSWERS, output=str(out),
                               ids=ids, sampling=SAMPLING)
    log = open(tmp_path / "killed.log", "wb")  # a pipe could fill and block it
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("collection-*.parquet")):
            if proc.poll() is not None:
                pytest.fail("the run ended before it was killed:\n" + (
                    tmp_path / "killed.log").read_text(errors="replace")[-3000:])
            assert time.monotonic() < deadline, "no shard after 120 s"
            time.sleep(0.2)
        time.sleep(1.0)  # let it go on with the stalled shards
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    done = sorted(p.name for p in out.glob("collection-*.parquet"))
    assert len(done) == 1  # the first shard, and nothing torn
    with pytest.raises(ValueError, match="4 of 5 shards are missing"):
        distributed.read_collection(out)

    report = distributed.collect(tiny_llama_path, QUERIES, ANSWERS, exact_numeric,
                                 output=out, ids=ids, shard_size=2, num_actors=2,
                                 verifier_id="exact_numeric", **SAMPLING)
    assert report.skipped == done
    assert sorted(report.written + report.skipped) == sorted(report.shards)
    assert len(report.shards) == 5
    got = distributed.read_collection(out)
    _same_samples(got, want)
    assert got.config["n_samples"] == 3 and got.config["verifier"] == "exact_numeric"
    assert got.config["model_sha256"] == want.config["model_sha256"] is not None

    # the run description refuses other settings before anything runs
    with pytest.raises(ValueError, match=r"sampling\.temperature"):
        distributed.collect(tiny_llama_path, QUERIES, ANSWERS, exact_numeric,
                            output=out, ids=ids, shard_size=2,
                            verifier_id="exact_numeric",
                            **dict(SAMPLING, temperature=0.5))
    manifest = json.loads((out / distributed.MANIFEST).read_text())
    assert [s["name"] for s in manifest["shards"]] == report.shards


def test_bad_arguments_fail_before_ray(tiny_llama_path, tmp_path):
    featurizer = HiddenStateFeaturizer(tiny_llama_path, batch_size=4)
    with pytest.raises(ValueError, match="multiple of batch_size"):
        distributed.featurize(featurizer, QUERIES, tmp_path / "f", shard_size=6)
    with pytest.raises(TypeError, match="all strings or all integers"):
        distributed.collect(tiny_llama_path, QUERIES[:2], ANSWERS[:2], exact_numeric,
                            2, tmp_path / "c", ids=["a", 1])
    with pytest.raises(ValueError, match="verifier_id"):
        distributed.collect(tiny_llama_path, QUERIES[:2], ANSWERS[:2],
                            lambda c, r: 1.0, 2, tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="not a shard folder"):
        distributed.read_collection(tmp_path)
    # an actor whose model files differ from the driver's refuses to run
    with pytest.raises(ValueError, match="other weights"):
        distributed._check_same_weights(tiny_llama_path, "0" * 64)
    assert not os.path.exists(tmp_path / "f") and not os.path.exists(tmp_path / "c")
