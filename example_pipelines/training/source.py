"""The external origin of the example's training data and its provenance record."""
from __future__ import annotations

from pathlib import Path

SOURCE_NAME = "breast-cancer-wisconsin"

#: Fields of the Data & Trust Alliance Data Provenance Standards, as `tdprov source add` options.
SOURCE_RECORD: dict[str, str] = {
    "title": "Breast Cancer Wisconsin (Diagnostic)",
    "license": "CC-BY-4.0",
    "issuer": "UCI Machine Learning Repository",
    "source-metadata": "https://archive.ics.uci.edu/dataset/17/breast+cancer+wisconsin+diagnostic",
    "source": "W. H. Wolberg, W. N. Street, O. L. Mangasarian, University of Wisconsin (donated 1995-11-01)",
    "description": "Breast Cancer Wisconsin (Diagnostic): 30 features of cell nuclei from digitised "
    "fine needle aspirate images, labelled malignant or benign; copy bundled with scikit-learn",
    "origin-geography": "US",
    "generation-method": "measurements computed from digitised medical images",
    "collection-end": "1995-11-01",
    "issue-date": "1995-11-01",
    "personal-data": "anonymised",
    "privacy-technology": "anonymisation (no patient identifiers in the data)",
    "confidentiality": "public",
    "processing-geography": "US",
    "storage-geography": "US",
    "intended-use": "research and teaching in machine learning",
    "proprietary-data": "none",
    "data-format": "text/csv",
}


def source_file() -> Path:
    """The CSV file of the dataset inside the installed scikit-learn package (no download)."""
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data" / "breast_cancer.csv"


def source_add_args(location: str | Path | None = None) -> list[str]:
    """Arguments of ``tdprov source add`` that register the source with its record fields."""
    args = ["source", "add", str(location or source_file()), "--name", SOURCE_NAME]
    for option, value in SOURCE_RECORD.items():
        args += [f"--{option}", value]
    return args
