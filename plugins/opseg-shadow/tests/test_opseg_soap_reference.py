"""SOAP equals pysobatools' SOAPeval on the same masks (the numbers below were recorded by
running the reference, not computed with zoo).

Inputs: ``soap_reference_cases.py`` beside this file (numpy only; the script that ran the
reference imports it too).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from zoo_opseg.metrics import DEFAULT_THRESHOLDS, SoapAccumulator, parse_thresholds, soap_matches


def _cases() -> ModuleType:
    path = Path(__file__).with_name("soap_reference_cases.py")
    spec = importlib.util.spec_from_file_location("soap_reference_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Reference: stevewongv/InstanceShadowDetection @ 3e63c1869dd6be99e13111de65dcbb8a0559b239,
# PythonAPI/pysobatools built in place from its _mask.pyx (python setup.py build_ext
# --inplace, Python 3.9, numpy 1.23.5, Cython 0.29.37; the repository's pre-generated
# _mask.c and CPython 3.6 .so were removed: that C file crashes under 3.9).
# /work/refs/run_soap.py writes each set as a SOBA ground truth (objects, shadows and
# association_anno in pair order) plus instance and association results (the association
# mask of a predicted pair is its union), then runs what projects/LISA/SOAP.py runs:
#   SOAPeval(soba, soba.loadRes(inst), soba.loadRes_asso(asso)).evaluate_asso();
#   .accumulate(); .summarize()  -> stats[0:3] = SOAP, SOAP50, SOAP75
# It printed:
#   two-pairs  [0.35247524752475246, 1.0, 0.2524752475247525]
#   random-1   [0.19195903637063583, 0.4329699148021193, 0.08215297044048073]
#   random-2   [0.19626737974913597, 0.4530880792911224, 0.08227251296558227]
#   random-3   [0.1996065165324697, 0.40424631793204135, 0.08820132013201318]
REFERENCE = {
    "two-pairs": [0.35247524752475246, 1.0, 0.2524752475247525],
    "random-1": [0.19195903637063583, 0.4329699148021193, 0.08215297044048073],
    "random-2": [0.19626737974913597, 0.4530880792911224, 0.08227251296558227],
    "random-3": [0.1996065165324697, 0.40424631793204135, 0.08820132013201318],
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_soap_equals_pysobatools(name: str) -> None:
    acc = SoapAccumulator(max_dets=20)
    for _h, _w, gts, preds in _cases().sets()[name]:
        acc.add_image(gts, preds)
    res = acc.result()
    assert [res["SOAP"], res["SOAP50"], res["SOAP75"]] == pytest.approx(REFERENCE[name], abs=1e-6)


def test_a_prediction_fitting_two_pairs_keeps_the_first_unless_the_second_beats_it() -> None:
    """The rule on the two-pairs case's IoUs (from its docstring): prediction A reaches 0.5
    on both pairs; pair 2 has the higher association IoU but its object IoU (0.5625) is
    below pair 1's association IoU (0.635), so A keeps pair 1 and B (pair 2 exactly) is a
    hit too. At 0.55 pair 1's object IoU (0.5) fails: A takes pair 2, B misses."""
    assoc = np.array([[0.635, 0.710], [0.3, 1.0]])
    objects = np.array([[0.5, 0.5625], [0.2, 1.0]])
    shadows = np.array([[0.692, 0.698], [0.2, 1.0]])
    tps = soap_matches(assoc, objects, shadows, DEFAULT_THRESHOLDS[:2])
    assert tps.tolist() == [[True, True], [True, False]]
    # a later pair at least as good on all three masks does replace the first
    better = soap_matches(assoc, np.array([[0.5, 0.7], [0.2, 1.0]]), shadows, [0.5])
    assert better.tolist() == [[True], [False]]


def test_default_thresholds_are_pysobatools_iou_thresholds() -> None:
    # Params.setDetParams: np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1)
    assert DEFAULT_THRESHOLDS[8] == 0.8999999999999999 and len(DEFAULT_THRESHOLDS) == 10
    assert parse_thresholds("0.5:0.95:0.05") == DEFAULT_THRESHOLDS
