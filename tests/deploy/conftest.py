"""The chart loaded once, and its manifests for the default and the production values."""

from collections.abc import Iterator

import helm_python
import pytest

from tests.deploy.chart import CHART_PATH, Manifest, production_values, render


@pytest.fixture(scope="session")
def chart() -> Iterator[helm_python.Chart]:
    loaded = helm_python.Chart.load(CHART_PATH)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def default_manifests(chart: helm_python.Chart) -> list[Manifest]:
    return render(chart, None)


@pytest.fixture(scope="session")
def production_manifests(chart: helm_python.Chart) -> list[Manifest]:
    return render(chart, production_values())
