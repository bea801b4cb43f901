"""TF Serving's ``--monitoring_config_file`` (``prometheus_config { enable path }``).

The pip package ``tensorflow-serving-api`` does not ship ``monitoring_config_pb2``, so the two
tiny messages are declared here with TF Serving's package and field numbers; text_format
then reads exactly the file the real server reads. As in TF Serving, metrics are exported
only when ``enable: true``; an empty ``path`` means the default Prometheus path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from serving.defaults import PROMETHEUS_PATH

_FILE = "serving_monitoring/monitoring_config.proto"


def _message_class():
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(
        name=_FILE, package="tensorflow.serving", syntax="proto3"
    )
    prom = proto.message_type.add(name="PrometheusConfig")
    prom.field.add(
        name="enable",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    prom.field.add(
        name="path",
        number=2,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    mon = proto.message_type.add(name="MonitoringConfig")
    mon.field.add(
        name="prometheus_config",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    pool.Add(proto)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    )


MonitoringConfig = _message_class()


@dataclass(frozen=True)
class Monitoring:
    enabled: bool = True
    path: str = PROMETHEUS_PATH

    @property
    def metrics_path(self) -> str | None:
        """Where the server exposes metrics, or None when monitoring is off."""
        return self.path if self.enabled else None


def parse(text: str) -> Monitoring:
    msg = MonitoringConfig()
    text_format.Parse(text, msg)
    prom = msg.prometheus_config
    return Monitoring(prom.enable, prom.path or PROMETHEUS_PATH)


def load_file(path: Path | str) -> Monitoring:
    return parse(Path(path).read_text())
