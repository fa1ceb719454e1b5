"""Reads a guie training folder with TensorBoard's own readers: EventAccumulator for the event files,
the projector plugin's ProjectorConfig (text proto) for the embedding projector. Prints JSON."""
import json
import sys

from google.protobuf import text_format
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

logdir = sys.argv[1]
acc = EventAccumulator(logdir, size_guidance={"scalars": 0})
acc.Reload()
scalars = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
config = ProjectorConfig()
with open(f"{logdir}/projector_config.pbtxt") as f:
    text_format.Parse(f.read(), config)
embeddings = [{"tensor_name": e.tensor_name, "tensor_path": e.tensor_path, "metadata_path": e.metadata_path, "tensor_shape": list(e.tensor_shape)} for e in config.embeddings]
print(json.dumps({"scalars": scalars, "embeddings": embeddings}))
