"""Brian2's Cython target equals its numpy target, and a cold compile is announced (issue 12, item 12).

The suite runs Brian2 with the numpy target (tests/conftest.py sets
NEUROCHIP_BRIAN_TARGET=numpy: for networks this small compiling never pays, see
benchmarks/bench_codegen.py). These tests compile on purpose: one network with
every kind of projection (dense, sparse, delayed, recurrent, plastic, memristive)
must give the same spikes, states and learned weights on both targets.
"""
import os
import subprocess
import sys
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest
import scipy.sparse as sp

from neurochip import Network, Population, Projection, SpikeSource, brian_backend, reference

ROOT = Path(__file__).resolve().parents[1]


def every_kind_of_projection(seed=0) -> Network:
    from neurochip.devices import presets
    from neurochip.plasticity import pair_stdp

    rng = np.random.default_rng(seed)
    src = SpikeSource.poisson("src", 12, rate=60 * b2.Hz, steps=200, random_state=rng)
    a = Population("a", 20, du=0.3, dv=0.1, vth=1.0, bias=rng.uniform(0, 0.05, 20))
    c = Population("c", 3, du=1.0, dv=1.0, vth=0.5)
    return Network(name="codegen", sources=[src], populations=[a, c], projections=[
        Projection("src_a", "src", "a", rng.normal(0.3, 0.2, (20, 12))),                   # dense
        Projection("a_a", "a", "a", sp.random(20, 20, density=0.3, random_state=2,          # sparse, recurrent,
                                              data_rvs=lambda k: rng.normal(-0.1, 0.3, k)), delay=3),  # delayed
        Projection("src_c", "src", "c", rng.uniform(0, 0.3, (3, 12)),                      # plastic
                   plasticity=pair_stdp(a_plus=0.05, a_minus=0.04, tau_plus=4.0, tau_minus=4.0)),
        Projection("a_c", "a", "c", rng.uniform(-0.2, 0.4, (3, 20)),                       # memristive
                   device=presets.ag_a_si(c2c_sigma=0.0, sigma_g_min=0.1, sigma_g_max=0.1)),
    ])


def test_cython_equals_numpy_spike_for_spike():
    net = every_kind_of_projection()
    probes = {"a": ["u", "v"], "c": ["v"]}
    runs = {t: brian_backend.simulate(net, 200, probes, codegen_target=t) for t in ("numpy", "cython")}
    assert runs["numpy"].backend == "brian2-numpy" and runs["cython"].backend == "brian2-cython"
    ref = reference.simulate(Network(populations=net.populations[:1], sources=net.sources,
                                     projections=net.projections[:2]), 200)
    for name in ("src", "a", "c"):
        np.testing.assert_array_equal(runs["numpy"].spikes[name].steps, runs["cython"].spikes[name].steps)
        np.testing.assert_array_equal(runs["numpy"].spikes[name].indices, runs["cython"].spikes[name].indices)
    # the part without plasticity and devices is the numpy reference exactly
    np.testing.assert_array_equal(runs["numpy"].spikes["a"].steps, ref.spikes["a"].steps)
    np.testing.assert_array_equal(runs["numpy"].spikes["a"].indices, ref.spikes["a"].indices)
    assert min(runs["numpy"].spike_counts()[n] for n in ("a", "c")) > 5, runs["numpy"].spike_counts()
    for pop, variables in probes.items():
        for var in variables:
            np.testing.assert_allclose(runs["cython"].traces[pop][var], runs["numpy"].traces[pop][var],
                                       rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(runs["cython"].info["weights"]["src_c"], runs["numpy"].info["weights"]["src_c"],
                               rtol=1e-12, atol=1e-12)


NOTICE = r"""
import sys
import brian2 as b2
from neurochip import _brian
b2.prefs.codegen.runtime.cython.cache_dir = sys.argv[1]
def run():
    g = b2.NeuronGroup(3, "v : 1", dt=b2.ms, name="notice_group")
    g.run_regularly("v = v + 1", dt=b2.ms, name="notice_update")
    net = b2.Network(g, name="notice_net")
    _brian.run_network(net, 5 * b2.ms, codegen_target="cython")
    return list(g.v)
print("first", run(), _brian.compiled_modules, flush=True)
print("second", run(), _brian.compiled_modules, flush=True)
"""


def test_a_cold_compile_prints_one_notice_with_the_cache_folder(tmp_path):
    cache = tmp_path / "brian_cache"
    out = subprocess.run([sys.executable, "-c", NOTICE, str(cache)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    notices = [ln for ln in out.stderr.splitlines() if ln.startswith("neurochip: Brian2 is compiling")]
    assert len(notices) == 1, out.stderr
    assert str(cache) in notices[0] and "first run of this network structure; later runs reuse it; it may take 1-2 minutes" in notices[0]
    first, second = out.stdout.splitlines()
    assert first.startswith("first [5.0, 5.0, 5.0]") and int(first.split()[-1]) >= 1
    assert second.split()[-1] == first.split()[-1]  # nothing compiled the second time
    assert any(cache.glob("*.so")) or any(cache.glob("*.pyd"))
