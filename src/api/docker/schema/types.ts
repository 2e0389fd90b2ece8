/**
 * The Engine API's request bodies as moby declares them (api/types/container, network, volume,
 * registry, mount; go-connections/nat; go-units), for `decodeAs`. Only the shapes: what the values
 * mean is checked by the engine.
 */
import {
  bool,
  duration,
  empty,
  fileMode,
  int,
  int64,
  map,
  named,
  slice,
  str,
  strSlice,
  struct,
  uint16,
  uint64,
  uint,
} from './gojson.js';

const strings = slice(str);
const labels = map(str);
const consoleSize = slice(uint, 2);

const healthConfig = struct('container.HealthConfig', {
  Test: strings,
  Interval: duration,
  Timeout: duration,
  StartPeriod: duration,
  StartInterval: duration,
  Retries: int,
});

/** container.Config: what `docker create` and `commit` send. */
export const containerConfig = struct('container.Config', {
  Hostname: str,
  Domainname: str,
  User: str,
  AttachStdin: bool,
  AttachStdout: bool,
  AttachStderr: bool,
  ExposedPorts: map(empty),
  Tty: bool,
  OpenStdin: bool,
  StdinOnce: bool,
  Env: strings,
  Cmd: strSlice,
  Healthcheck: healthConfig,
  ArgsEscaped: bool,
  Image: str,
  Volumes: map(empty),
  WorkingDir: str,
  Entrypoint: strSlice,
  NetworkDisabled: bool,
  MacAddress: str,
  OnBuild: strings,
  Labels: labels,
  StopSignal: str,
  StopTimeout: int,
  Shell: strSlice,
});

const weightDevice = struct('blkiodev.WeightDevice', { Path: str, Weight: uint16 });
const throttleDevice = struct('blkiodev.ThrottleDevice', { Path: str, Rate: uint64 });

/** container.Resources, embedded in HostConfig and UpdateConfig. */
const resources = struct('container.Resources', {
  CpuShares: int64,
  Memory: int64,
  NanoCpus: int64,
  CgroupParent: str,
  BlkioWeight: uint16,
  BlkioWeightDevice: slice(weightDevice),
  BlkioDeviceReadBps: slice(throttleDevice),
  BlkioDeviceWriteBps: slice(throttleDevice),
  BlkioDeviceReadIOps: slice(throttleDevice),
  BlkioDeviceWriteIOps: slice(throttleDevice),
  CpuPeriod: int64,
  CpuQuota: int64,
  CpuRealtimePeriod: int64,
  CpuRealtimeRuntime: int64,
  CpusetCpus: str,
  CpusetMems: str,
  Devices: slice(struct('container.DeviceMapping', { PathOnHost: str, PathInContainer: str, CgroupPermissions: str })),
  DeviceCgroupRules: strings,
  DeviceRequests: slice(
    struct('container.DeviceRequest', {
      Driver: str,
      Count: int,
      DeviceIDs: strings,
      Capabilities: slice(strings),
      Options: labels,
    }),
  ),
  KernelMemory: int64,
  KernelMemoryTCP: int64,
  MemoryReservation: int64,
  MemorySwap: int64,
  MemorySwappiness: int64,
  OomKillDisable: bool,
  PidsLimit: int64,
  Ulimits: slice(struct('units.Ulimit', { Name: str, Hard: int64, Soft: int64 })),
  CpuCount: int64,
  CpuPercent: int64,
  IOMaximumIOps: uint64,
  IOMaximumBandwidth: uint64,
});

const restartPolicy = struct('container.RestartPolicy', {
  Name: named('container.RestartPolicyMode'),
  MaximumRetryCount: int,
});

const mount = struct('mount.Mount', {
  Type: named('mount.Type'),
  Source: str,
  Target: str,
  ReadOnly: bool,
  Consistency: named('mount.Consistency'),
  BindOptions: struct('mount.BindOptions', {
    Propagation: named('mount.Propagation'),
    NonRecursive: bool,
    CreateMountpoint: bool,
    ReadOnlyNonRecursive: bool,
    ReadOnlyForceRecursive: bool,
  }),
  VolumeOptions: struct('mount.VolumeOptions', {
    NoCopy: bool,
    Labels: labels,
    Subpath: str,
    DriverConfig: struct('mount.Driver', { Name: str, Options: labels }),
  }),
  ImageOptions: struct('mount.ImageOptions', { Subpath: str }),
  TmpfsOptions: struct('mount.TmpfsOptions', { SizeBytes: int64, Mode: fileMode, Options: slice(strings) }),
});

/** container.HostConfig. */
export const hostConfig = struct(
  'container.HostConfig',
  {
    Binds: strings,
    ContainerIDFile: str,
    LogConfig: struct('container.LogConfig', { Type: str, Config: labels }),
    NetworkMode: named('container.NetworkMode'),
    PortBindings: map(slice(struct('nat.PortBinding', { HostIp: str, HostPort: str }))),
    RestartPolicy: restartPolicy,
    AutoRemove: bool,
    VolumeDriver: str,
    VolumesFrom: strings,
    ConsoleSize: consoleSize,
    Annotations: labels,
    CapAdd: strSlice,
    CapDrop: strSlice,
    CgroupnsMode: named('container.CgroupnsMode'),
    Dns: strings,
    DnsOptions: strings,
    DnsSearch: strings,
    ExtraHosts: strings,
    GroupAdd: strings,
    IpcMode: named('container.IpcMode'),
    Cgroup: named('container.CgroupSpec'),
    Links: strings,
    OomScoreAdj: int,
    PidMode: named('container.PidMode'),
    Privileged: bool,
    PublishAllPorts: bool,
    ReadonlyRootfs: bool,
    SecurityOpt: strings,
    StorageOpt: labels,
    Tmpfs: labels,
    UTSMode: named('container.UTSMode'),
    UsernsMode: named('container.UsernsMode'),
    ShmSize: int64,
    Sysctls: labels,
    Runtime: str,
    Isolation: named('container.Isolation'),
    Mounts: slice(mount),
    MaskedPaths: strings,
    ReadonlyPaths: strings,
    Init: bool,
  },
  resources,
);

const endpointSettings = struct('network.EndpointSettings', {
  IPAMConfig: struct('network.EndpointIPAMConfig', { IPv4Address: str, IPv6Address: str, LinkLocalIPs: strings }),
  Links: strings,
  Aliases: strings,
  DriverOpts: labels,
  GwPriority: int,
  MacAddress: str,
  NetworkID: str,
  EndpointID: str,
  Gateway: str,
  IPAddress: str,
  IPPrefixLen: int,
  IPv6Gateway: str,
  GlobalIPv6Address: str,
  GlobalIPv6PrefixLen: int,
  DNSNames: strings,
});

/** `POST /containers/create`: Config with HostConfig and NetworkingConfig beside its fields. */
export const createRequest = struct(
  'container.CreateRequest',
  {
    HostConfig: hostConfig,
    NetworkingConfig: struct('network.NetworkingConfig', { EndpointsConfig: map(endpointSettings) }),
  },
  containerConfig,
);

/** `POST /containers/{id}/update`. */
export const updateConfig = struct('container.UpdateConfig', { RestartPolicy: restartPolicy }, resources);

/** `POST /containers/{id}/exec`. */
export const execOptions = struct('container.ExecOptions', {
  User: str,
  Privileged: bool,
  Tty: bool,
  ConsoleSize: consoleSize,
  AttachStdin: bool,
  AttachStderr: bool,
  AttachStdout: bool,
  Detach: bool,
  DetachKeys: str,
  Env: strings,
  WorkingDir: str,
  Cmd: strings,
});

/** `POST /exec/{id}/start`. */
export const execStartOptions = struct('container.ExecStartOptions', {
  Detach: bool,
  Tty: bool,
  ConsoleSize: consoleSize,
});

/** `POST /networks/create`. */
export const networkCreateRequest = struct('network.CreateRequest', {
  Name: str,
  CheckDuplicate: bool,
  Driver: str,
  Scope: str,
  EnableIPv4: bool,
  EnableIPv6: bool,
  IPAM: struct('network.IPAM', {
    Driver: str,
    Options: labels,
    Config: slice(
      struct('network.IPAMConfig', { Subnet: str, IPRange: str, Gateway: str, AuxiliaryAddresses: labels }),
    ),
  }),
  Internal: bool,
  Attachable: bool,
  Ingress: bool,
  ConfigOnly: bool,
  ConfigFrom: struct('network.ConfigReference', { Network: str }),
  Options: labels,
  Labels: labels,
});

/** `POST /networks/{id}/connect`. */
export const networkConnect = struct('network.ConnectOptions', { Container: str, EndpointConfig: endpointSettings });

/** `POST /networks/{id}/disconnect`. */
export const networkDisconnect = struct('network.DisconnectOptions', { Container: str, Force: bool });

/** `POST /volumes/create`. */
export const volumeCreate = struct('volume.CreateOptions', {
  Driver: str,
  DriverOpts: labels,
  Labels: labels,
  Name: str,
});

/** `POST /auth`. */
export const authConfig = struct('registry.AuthConfig', {
  username: str,
  password: str,
  auth: str,
  email: str,
  serveraddress: str,
  identitytoken: str,
  registrytoken: str,
});
