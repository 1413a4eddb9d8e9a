"""Fixtures shared by the chart's tests (test_chart, test_chart_snapshots, test_dockerfile): helm and its renders."""

from __future__ import annotations

import pytest

from tests.chart_helpers import VALUE_IDS, VALUE_SETS, Helm, HelmUnavailable, Render, helm_binary


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        binary = helm_binary()
    except HelmUnavailable as missing:
        pytest.skip(str(missing))
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def renders(helm: Helm) -> dict[str, Render]:
    """One render per values set (default values and each ci/ file), shared by every chart test."""
    return {name: helm.template(files) for name, files in zip(VALUE_IDS, VALUE_SETS, strict=True)}
