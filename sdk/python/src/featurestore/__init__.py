"""The feature store from Python: register features, ingest DataFrames, read
online vectors, and build point-in-time-correct training data.

    import featurestore
    fs = featurestore.Client("127.0.0.1", project="energy")   # standalone
    fs.apply("examples/energy/energy.yaml")
    fs.ingest("daily_readings", df)
    fs.get_feature_vectors("consumption_model", ["MAC000001"]).to_pandas()
    fs.get_historical_features("consumption_model", entity_df).to_pandas()
"""

from featurestore.client import Client, WriteResult
from featurestore.errors import (
    FeatureStoreError,
    IngestError,
    InvalidArgumentError,
    NotFoundError,
    SpecError,
)
from featurestore.offline import HistoricalFeatures, TrainingSet
from featurestore.vectors import FeatureVectors, GroupFreshness

__version__ = "0.1.0"

__all__ = [
    "Client",
    "WriteResult",
    "FeatureVectors",
    "GroupFreshness",
    "HistoricalFeatures",
    "TrainingSet",
    "FeatureStoreError",
    "IngestError",
    "InvalidArgumentError",
    "NotFoundError",
    "SpecError",
]
