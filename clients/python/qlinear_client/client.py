"""A typed client for qlinear's gRPC APIs.

Client wraps one channel and offers:
  - the native API qlinear.v1.QLinear: forward(), forward_with_timings(),
    matmul(), models(), model(), load_model(), unload_model();
  - the KServe v2 / Open Inference Protocol inference.GRPCInferenceService:
    infer(), server_live(), server_ready(), model_ready(), statistics().
    These use only the public protocol, so they also work against Triton or
    any other KServe v2 server;
  - the standard grpc.health.v1 service: health().

Tensors are numpy arrays [M, K]; a 1-D array is taken as one row. Inputs are
converted to the model's dtype (fp32, bf16 or fp16, looked up once per model
version and cached). Outputs come back as float32 for fp32 and bf16 models
(numpy has no bfloat16; the widening is exact) and float16 for fp16 models.

forward(), forward_with_timings() and matmul() take act_quant_quality=True to
also get the server's comparison of int8 and none activations on the request's
own input, one LayerActQuantQuality per quantized layer run, as an extra
element of a returned tuple (as numpy.unique's return_counts does).

Every failed call raises QLinearError with the gRPC status code and the
server's message, which names the offending field.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import (Any, Callable, Dict, List, Literal, Optional, Sequence,
                    Tuple, Union, overload)

import grpc
import numpy as np

from . import _stubs

pb = _stubs.qlinear_pb2
kserve = _stubs.inference_pb2
health_pb = _stubs.health_pb2

# Model dtypes by their manifest names, with the wire names of both APIs.
_NATIVE_DTYPES = {
    "fp32": pb.DATA_TYPE_FP32,
    "bf16": pb.DATA_TYPE_BF16,
    "fp16": pb.DATA_TYPE_FP16,
}
_NATIVE_DTYPE_NAMES = {v: k for k, v in _NATIVE_DTYPES.items()}
_KSERVE_DATATYPES = {"fp32": "FP32", "bf16": "BF16", "fp16": "FP16"}
_DTYPE_OF_DATATYPE = {v: k for k, v in _KSERVE_DATATYPES.items()}
_ACT_QUANTS = {
    None: pb.ACT_QUANT_MODEL_DEFAULT,
    "none": pb.ACT_QUANT_NONE,
    "int8_asym_per_token": pb.ACT_QUANT_INT8_ASYM_PER_TOKEN,
}
_ACT_QUANT_NAMES = {
    pb.ACT_QUANT_NONE: "none",
    pb.ACT_QUANT_INT8_ASYM_PER_TOKEN: "int8_asym_per_token",
}


class QLinearError(Exception):
    """A call that failed: its gRPC status code and the server's message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class ModelStatus:
    """One model the server knows (ListModels)."""
    name: str
    version: str
    ready: bool
    state: str  # READY, LOADING or UNAVAILABLE
    reason: str


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    name: str
    in_features: int
    out_features: int
    format: str  # int4_opaque, intx_opaque or fp32
    group_size: int
    bits: int
    bias: bool
    activation: str
    kernel: str  # the kernel of the model's default act_quant
    packed_bytes: int


@dataclasses.dataclass(frozen=True)
class ModelStats:
    """Serving counters of one model version (GetModel)."""
    success_count: int
    fail_count: int
    inference_rows: int
    batches: int
    layers_executed: int
    row_layers_executed: int
    queue_seconds: float
    compute_seconds: float


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One model version, as GetModel describes it."""
    name: str
    version: str
    dtype: str  # fp32, bf16 or fp16
    default_act_quant: str  # none or int8_asym_per_token
    layers: Tuple[LayerInfo, ...]
    packed_bytes: int
    stats: ModelStats


@dataclasses.dataclass(frozen=True)
class LayerTiming:
    layer: str
    kernel: str
    kernel_seconds: float


@dataclasses.dataclass(frozen=True)
class Timings:
    """Where the time of one request went, measured in the server."""
    total_seconds: float
    queue_seconds: float
    batch_rows: int
    layers: Tuple[LayerTiming, ...]


@dataclasses.dataclass(frozen=True)
class LayerActQuantQuality:
    """One quantized layer of a request: its int8_asym_per_token output
    against its none (weight-only) output, ref, on the same layer input, the
    one the request's own mode produced (docs/operations.md, "Quality
    telemetry"). fp32 layers ignore the mode and have no entry."""
    layer: str
    # 10·log10(Σ ref² / Σ (int8 − ref)²) over the whole [M, N] output;
    # inf when the two are equal.
    sqnr_db: float
    # max |int8 − ref| ÷ max |ref| over the whole output.
    rel_max_error: float
    # The largest max|x| ÷ RMS(x) of a row of the layer input x.
    outlier_ratio: float
    # Each row's SQNR, in row order (rows are quantized one by one).
    row_sqnr_db: Tuple[float, ...]


ActQuantQuality = Tuple[LayerActQuantQuality, ...]


def _act_quant_quality(entries: Sequence[Any]) -> ActQuantQuality:
    return tuple(
        LayerActQuantQuality(q.layer, q.sqnr_db, q.rel_max_error,
                             q.outlier_ratio, tuple(q.row_sqnr_db))
        for q in entries)


def _as_matrix(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise ValueError(f"expected a [M, K] array, got shape {x.shape}")
    return x


def encode(x: np.ndarray, dtype: str) -> bytes:
    """The little-endian bytes of x in `dtype` (round to nearest even)."""
    if dtype == "fp32":
        return np.ascontiguousarray(x, dtype="<f4").tobytes()
    if dtype == "fp16":
        return np.ascontiguousarray(x, dtype="<f2").tobytes()
    if dtype == "bf16":
        bits = np.ascontiguousarray(x, dtype="<f4").view("<u4")
        rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))
        out = (rounded >> 16).astype("<u2")
        nan = np.isnan(np.ascontiguousarray(x, dtype="<f4"))
        out[nan] = np.uint16(0x7FC0)
        return out.tobytes()
    raise ValueError(f"unknown dtype {dtype!r}")


def decode(data: bytes, dtype: str, shape: Sequence[int]) -> np.ndarray:
    """The array of `shape` held in `data` (float32 for fp32 and bf16)."""
    if dtype == "fp32":
        out = np.frombuffer(data, dtype="<f4").astype(np.float32)
    elif dtype == "fp16":
        out = np.frombuffer(data, dtype="<f2").astype(np.float16)
    elif dtype == "bf16":
        bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        out = bits.view(np.float32)
    else:
        raise ValueError(f"unknown dtype {dtype!r}")
    return out.reshape(tuple(shape))


# The unary calls a retry may repeat (idempotent: inference and metadata).
RETRIED_METHODS = (
    ("qlinear.v1.QLinear", "Forward"),
    ("qlinear.v1.QLinear", "Matmul"),
    ("qlinear.v1.QLinear", "GetModel"),
    ("inference.GRPCInferenceService", "ModelInfer"),
    ("inference.GRPCInferenceService", "ModelMetadata"),
    ("inference.GRPCInferenceService", "ModelConfig"),
    ("inference.GRPCInferenceService", "ModelStatistics"),
    ("inference.GRPCInferenceService", "ModelReady"),
)

# Reconnection backoff (ms): a restarted replica gets traffic again within
# about a second, not after gRPC's default of up to 2 minutes.
_RECONNECT_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 200),
                      ("grpc.min_reconnect_backoff_ms", 200),
                      ("grpc.max_reconnect_backoff_ms", 1000))


def service_config(balancing: str = "round_robin") -> str:
    """The gRPC service config of the qlinear clients, as JSON: `balancing`
    ("round_robin" or "pick_first") over every address of the target,
    skipping replicas whose grpc.health.v1 status is NOT_SERVING (draining),
    and up to 5 attempts on UNAVAILABLE (backoff 10 ms to 300 ms) for the
    RETRIED_METHODS. The C++ clients use the same one
    (clients/common/channel.h; `qlinear-cli service-config` prints it)."""
    if balancing not in ("round_robin", "pick_first"):
        raise ValueError(f"balancing must be round_robin or pick_first, "
                         f"not {balancing!r}")
    return json.dumps({
        "loadBalancingConfig": [{balancing: {}}],
        "healthCheckConfig": {"serviceName": ""},
        "methodConfig": [{
            "name": [{"service": s, "method": m} for s, m in RETRIED_METHODS],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.01s",
                "maxBackoff": "0.3s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }],
    })


def _address_family(host_port: str) -> int:
    host, _, port = host_port.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return 0
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return 0


def channel_target(targets: Union[str, Sequence[str]]) -> str:
    """The gRPC target for `targets`: gRPC name syntax as is
    ("dns:///NAME:PORT", "ipv4:IP:PORT,IP:PORT", "ipv6:...", "unix:PATH"),
    one "HOST:PORT" as is, or several "IP:PORT" (a list, or one string
    separated by commas) as an ipv4: or ipv6: target. Raises ValueError
    naming the entry that cannot be part of a list (a host name: use
    dns:///NAME:PORT)."""
    if not isinstance(targets, str):
        targets = ",".join(targets)
    if not targets:
        raise ValueError("target: empty")
    if targets.startswith(("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:")):
        return targets
    if "," not in targets:
        return targets
    families = set()
    for entry in targets.split(","):
        family = _address_family(entry)
        if family == 0:
            raise ValueError(
                f"target: {entry!r} in a list of targets must be IP:PORT or "
                f"[IPv6]:PORT; for a name with several addresses use "
                f"dns:///NAME:PORT")
        families.add(family)
    if len(families) > 1:
        raise ValueError(
            "target: IPv4 and IPv6 addresses cannot be mixed in one list")
    return ("ipv4:" if families == {4} else "ipv6:") + targets


class Client:
    """A connection to one qlinear server, or balanced over several. Thread-safe, like its channel.

    Use as a context manager, or call close().
    """

    def __init__(self,
                 target: Union[str, Sequence[str]],
                 *,
                 timeout: Optional[float] = 30.0,
                 admin_token: Optional[str] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 options: Sequence[Tuple[str, Any]] = ()) -> None:
        """target: "host:port", several "ip:port" (a list or one string
        separated by commas), or gRPC name syntax such as
        "dns:///qlinear-server-headless:8001" (see channel_target()); calls
        are balanced round_robin over every address and retried on
        UNAVAILABLE (service_config()). timeout: default deadline of every
        call in seconds (None: none). admin_token: sent as "authorization:
        Bearer" on load_model/unload_model. credentials: TLS; None:
        plaintext. options: more gRPC channel options."""
        target = channel_target(target)
        channel_options = [("grpc.max_receive_message_length", -1),
                           ("grpc.max_send_message_length", -1),
                           ("grpc.service_config", service_config()),
                           ("grpc.enable_retries", 1)]
        channel_options.extend(_RECONNECT_OPTIONS)
        channel_options.extend(options)
        if credentials is None:
            self._channel = grpc.insecure_channel(target, channel_options)
        else:
            self._channel = grpc.secure_channel(target, credentials,
                                                channel_options)
        self._timeout = timeout
        self._admin_token = admin_token
        self._native = _stubs.qlinear_pb2_grpc.QLinearStub(self._channel)
        self._kserve = _stubs.inference_pb2_grpc.GRPCInferenceServiceStub(
            self._channel)
        self._health = _stubs.health_pb2_grpc.HealthStub(self._channel)
        self._native_dtypes: Dict[Tuple[str, str], str] = {}
        self._kserve_inputs: Dict[Tuple[str, str], Tuple[str, str]] = {}

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing --------------------------------------------------------

    def _call(self,
              method: Callable[..., Any],
              request: Any,
              timeout: Optional[float] = None,
              metadata: Optional[Sequence[Tuple[str, str]]] = None) -> Any:
        try:
            return method(request,
                          timeout=self._timeout if timeout is None else timeout,
                          metadata=metadata)
        except grpc.RpcError as e:
            raise QLinearError(e.code(), e.details() or "") from None

    def _admin_metadata(self) -> Optional[List[Tuple[str, str]]]:
        if not self._admin_token:
            return None
        return [("authorization", "Bearer " + self._admin_token)]

    def _model_dtype(self, model: str, version: str) -> str:
        key = (model, version)
        if key not in self._native_dtypes:
            self._native_dtypes[key] = self.model(model, version).dtype
        return self._native_dtypes[key]

    def _tensor(self, x: np.ndarray, dtype: str) -> Any:
        x = _as_matrix(x)
        return pb.Tensor(dtype=_NATIVE_DTYPES[dtype],
                         shape=list(x.shape),
                         data=encode(x, dtype))

    @staticmethod
    def _output(tensor: Any) -> np.ndarray:
        return decode(tensor.data, _NATIVE_DTYPE_NAMES[tensor.dtype],
                      tensor.shape)

    # --- native API ------------------------------------------------------

    @overload
    def forward(self,
                x: np.ndarray,
                model: str = ...,
                *,
                version: str = ...,
                act_quant: Optional[str] = ...,
                layer_start: Optional[int] = ...,
                layer_end: Optional[int] = ...,
                priority: int = ...,
                timeout: Optional[float] = ...,
                act_quant_quality: Literal[False] = ...) -> np.ndarray:
        ...

    @overload
    def forward(self,
                x: np.ndarray,
                model: str = ...,
                *,
                version: str = ...,
                act_quant: Optional[str] = ...,
                layer_start: Optional[int] = ...,
                layer_end: Optional[int] = ...,
                priority: int = ...,
                timeout: Optional[float] = ...,
                act_quant_quality: Literal[True]
                ) -> Tuple[np.ndarray, ActQuantQuality]:
        ...

    def forward(self,
                x: np.ndarray,
                model: str = "default",
                *,
                version: str = "",
                act_quant: Optional[str] = None,
                layer_start: Optional[int] = None,
                layer_end: Optional[int] = None,
                priority: int = 0,
                timeout: Optional[float] = None,
                act_quant_quality: bool = False) -> Any:
        """Runs x [M, K] through layers [layer_start, layer_end) of `model`
        (all by default). act_quant: None (the model default), "none" or
        "int8_asym_per_token". Returns [M, N].

        act_quant_quality=True: the server also runs each quantized layer in
        both modes (about twice the compute; for debugging one input) and
        the call returns (output, quality), quality a tuple of
        LayerActQuantQuality, one per quantized layer run, in order. The
        output is the same either way."""
        response = self._forward(x, model, version, act_quant, layer_start,
                                 layer_end, priority, timeout, False,
                                 act_quant_quality)
        y = self._output(response.output)
        if act_quant_quality:
            return y, _act_quant_quality(response.act_quant_quality)
        return y

    @overload
    def forward_with_timings(self,
                             x: np.ndarray,
                             model: str = ...,
                             *,
                             version: str = ...,
                             act_quant: Optional[str] = ...,
                             layer_start: Optional[int] = ...,
                             layer_end: Optional[int] = ...,
                             priority: int = ...,
                             timeout: Optional[float] = ...,
                             act_quant_quality: Literal[False] = ...
                             ) -> Tuple[np.ndarray, Timings]:
        ...

    @overload
    def forward_with_timings(self,
                             x: np.ndarray,
                             model: str = ...,
                             *,
                             version: str = ...,
                             act_quant: Optional[str] = ...,
                             layer_start: Optional[int] = ...,
                             layer_end: Optional[int] = ...,
                             priority: int = ...,
                             timeout: Optional[float] = ...,
                             act_quant_quality: Literal[True]
                             ) -> Tuple[np.ndarray, Timings, ActQuantQuality]:
        ...

    def forward_with_timings(self,
                             x: np.ndarray,
                             model: str = "default",
                             *,
                             version: str = "",
                             act_quant: Optional[str] = None,
                             layer_start: Optional[int] = None,
                             layer_end: Optional[int] = None,
                             priority: int = 0,
                             timeout: Optional[float] = None,
                             act_quant_quality: bool = False) -> Any:
        """As forward(), plus the server's timings of the request: returns
        (output, timings), or (output, timings, quality) with
        act_quant_quality=True."""
        response = self._forward(x, model, version, act_quant, layer_start,
                                 layer_end, priority, timeout, True,
                                 act_quant_quality)
        t = response.timings
        timings = Timings(total_seconds=t.total_seconds,
                          queue_seconds=t.queue_seconds,
                          batch_rows=t.batch_rows,
                          layers=tuple(
                              LayerTiming(l.layer, l.kernel, l.kernel_seconds)
                              for l in t.layers))
        y = self._output(response.output)
        if act_quant_quality:
            return y, timings, _act_quant_quality(response.act_quant_quality)
        return y, timings

    def _forward(self, x: np.ndarray, model: str, version: str,
                 act_quant: Optional[str], layer_start: Optional[int],
                 layer_end: Optional[int], priority: int,
                 timeout: Optional[float], timings: bool,
                 act_quant_quality: bool) -> Any:
        request = pb.ForwardRequest(
            model=model,
            version=version,
            input=self._tensor(x, self._model_dtype(model, version)),
            act_quant=_act_quant(act_quant),
            priority=priority,
            return_timings=timings,
            return_act_quant_quality=act_quant_quality)
        if layer_start is not None:
            request.layer_start = layer_start
        if layer_end is not None:
            request.layer_end = layer_end
        return self._call(self._native.Forward, request, timeout)

    @overload
    def matmul(self,
               x: np.ndarray,
               layer: str,
               model: str = ...,
               *,
               version: str = ...,
               act_quant: Optional[str] = ...,
               priority: int = ...,
               timeout: Optional[float] = ...,
               act_quant_quality: Literal[False] = ...) -> np.ndarray:
        ...

    @overload
    def matmul(self,
               x: np.ndarray,
               layer: str,
               model: str = ...,
               *,
               version: str = ...,
               act_quant: Optional[str] = ...,
               priority: int = ...,
               timeout: Optional[float] = ...,
               act_quant_quality: Literal[True]
               ) -> Tuple[np.ndarray, ActQuantQuality]:
        ...

    def matmul(self,
               x: np.ndarray,
               layer: str,
               model: str = "default",
               *,
               version: str = "",
               act_quant: Optional[str] = None,
               priority: int = 0,
               timeout: Optional[float] = None,
               act_quant_quality: bool = False) -> Any:
        """x [M, K] times the weights of one named layer, plus its bias,
        without its activation function. Returns [M, N]; with
        act_quant_quality=True, (output, quality) as forward() (one entry,
        none for an fp32 layer)."""
        request = pb.MatmulRequest(
            model=model,
            version=version,
            layer=layer,
            input=self._tensor(x, self._model_dtype(model, version)),
            act_quant=_act_quant(act_quant),
            priority=priority,
            return_act_quant_quality=act_quant_quality)
        response = self._call(self._native.Matmul, request, timeout)
        y = self._output(response.output)
        if act_quant_quality:
            return y, _act_quant_quality(response.act_quant_quality)
        return y

    def models(self) -> List[ModelStatus]:
        """Every model loaded or in the repository, sorted by name. Needs
        the admin token when the server has one."""
        response = self._call(self._native.ListModels, pb.ListModelsRequest(),
                              metadata=self._admin_metadata())
        return [
            ModelStatus(m.name, m.version, m.ready, m.state, m.reason)
            for m in response.models
        ]

    def model(self, name: str, version: str = "") -> ModelInfo:
        """Describes one model version (the serving one by default)."""
        r = self._call(self._native.GetModel,
                       pb.GetModelRequest(model=name, version=version))
        s = r.stats
        return ModelInfo(
            name=r.name,
            version=r.version,
            dtype=_NATIVE_DTYPE_NAMES[r.dtype],
            default_act_quant=_ACT_QUANT_NAMES[r.default_act_quant],
            layers=tuple(
                LayerInfo(l.name, l.in_features, l.out_features, l.format,
                          l.group_size, l.bits, l.bias, l.activation, l.kernel,
                          l.packed_bytes) for l in r.layers),
            packed_bytes=r.packed_bytes,
            stats=ModelStats(s.success_count, s.fail_count, s.inference_rows,
                             s.batches, s.layers_executed,
                             s.row_layers_executed, s.queue_seconds,
                             s.compute_seconds))

    def load_model(self, name: str, version: str = "") -> str:
        """Loads (or swaps in) a model version; returns the version now
        serving. Needs the admin token when the server has one."""
        response = self._call(self._native.LoadModel,
                              pb.LoadModelRequest(model=name, version=version),
                              metadata=self._admin_metadata())
        return response.version

    def unload_model(self, name: str) -> None:
        """Stops serving a model. Needs the admin token when set."""
        self._call(self._native.UnloadModel,
                   pb.UnloadModelRequest(model=name),
                   metadata=self._admin_metadata())

    # --- KServe v2 -------------------------------------------------------

    def _kserve_input(self, model: str, version: str) -> Tuple[str, str]:
        key = (model, version)
        if key not in self._kserve_inputs:
            metadata = self._call(
                self._kserve.ModelMetadata,
                kserve.ModelMetadataRequest(name=model, version=version))
            if not metadata.inputs:
                raise QLinearError(grpc.StatusCode.FAILED_PRECONDITION,
                                   f"model {model!r} declares no input")
            first = metadata.inputs[0]
            if first.datatype not in _DTYPE_OF_DATATYPE:
                raise QLinearError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"input datatype {first.datatype} is not FP32/BF16/FP16")
            self._kserve_inputs[key] = (first.name, first.datatype)
        return self._kserve_inputs[key]

    def infer(self,
              x: np.ndarray,
              model: str = "default",
              *,
              version: str = "",
              act_quant: Optional[str] = None,
              layer_start: Optional[int] = None,
              layer_end: Optional[int] = None,
              priority: Optional[int] = None,
              timeout_us: Optional[int] = None,
              typed: bool = False,
              request_id: str = "",
              timeout: Optional[float] = None) -> np.ndarray:
        """KServe v2 ModelInfer of x [M, K] as the model's first input.

        The request parameters act_quant, layer_start, layer_end, priority
        and timeout_us (the "timeout" parameter, microseconds) are sent only
        when given. typed=True sends fp32_contents instead of
        raw_input_contents (FP32 models only: the protocol defines no typed
        contents for BF16 and FP16). Returns the first output.
        """
        name, datatype = self._kserve_input(model, version)
        dtype = _DTYPE_OF_DATATYPE[datatype]
        x = _as_matrix(x)
        request = kserve.ModelInferRequest(model_name=model,
                                           model_version=version,
                                           id=request_id)
        tensor = request.inputs.add(name=name,
                                    datatype=datatype,
                                    shape=list(x.shape))
        if typed:
            if dtype != "fp32":
                raise ValueError(
                    f"typed contents exist only for FP32, not {datatype}")
            tensor.contents.fp32_contents.extend(
                np.asarray(x, dtype=np.float32).ravel().tolist())
        else:
            request.raw_input_contents.append(encode(x, dtype))
        params = request.parameters
        if act_quant is not None:
            params["act_quant"].string_param = act_quant
        if layer_start is not None:
            params["layer_start"].int64_param = layer_start
        if layer_end is not None:
            params["layer_end"].int64_param = layer_end
        if priority is not None:
            params["priority"].int64_param = priority
        if timeout_us is not None:
            params["timeout"].int64_param = timeout_us
        response = self._call(self._kserve.ModelInfer, request, timeout)
        if not response.outputs:
            raise QLinearError(grpc.StatusCode.INTERNAL, "no output returned")
        out = response.outputs[0]
        out_dtype = _DTYPE_OF_DATATYPE.get(out.datatype)
        if out_dtype is None:
            raise QLinearError(grpc.StatusCode.INTERNAL,
                               f"unexpected output datatype {out.datatype}")
        if response.raw_output_contents:
            return decode(response.raw_output_contents[0], out_dtype,
                          out.shape)
        return np.asarray(out.contents.fp32_contents,
                          dtype=np.float32).reshape(tuple(out.shape))

    def server_live(self) -> bool:
        return self._call(self._kserve.ServerLive,
                          kserve.ServerLiveRequest()).live

    def server_ready(self) -> bool:
        return self._call(self._kserve.ServerReady,
                          kserve.ServerReadyRequest()).ready

    def model_ready(self, model: str, version: str = "") -> bool:
        return self._call(
            self._kserve.ModelReady,
            kserve.ModelReadyRequest(name=model, version=version)).ready

    def statistics(self, model: str = "", version: str = "") -> List[Any]:
        """Triton's ModelStatistics (inference.ModelStatistics messages) of
        one model, or of every loaded model."""
        response = self._call(
            self._kserve.ModelStatistics,
            kserve.ModelStatisticsRequest(name=model, version=version))
        return list(response.model_stats)

    # --- health ----------------------------------------------------------

    def health(self, service: str = "") -> str:
        """The grpc.health.v1 status of `service` ("" is the server; a
        model name is that model): SERVING, NOT_SERVING, ..."""
        response = self._call(self._health.Check,
                              health_pb.HealthCheckRequest(service=service))
        return health_pb.HealthCheckResponse.ServingStatus.Name(
            response.status)


def _act_quant(name: Optional[str]) -> int:
    if name not in _ACT_QUANTS:
        raise ValueError(f"act_quant must be None, 'none' or "
                         f"'int8_asym_per_token', not {name!r}")
    return _ACT_QUANTS[name]
