/**
 * Plain value types that several layers pass around (config builds a pilot shape, the engine
 * creates pilots from it, host reads the engine's cgroup facts, reporters name the daemon). They
 * live in the core so that no layer has to import a sibling or a higher one for a type.
 */

/** Who this daemon is on the engine. */
export interface Identity {
  readonly instance: string;
  readonly hostname: string;
  readonly version: string;
}

export interface DeviceMapping {
  readonly pathOnHost: string;
  readonly pathInContainer: string;
  readonly cgroupPermissions: string;
}

/** The pilot-shaping part of the configuration, normalized: what every new pilot is created from. */
export interface PilotShape {
  readonly image: string;
  readonly cmd: readonly string[];
  /** `uid:gid`, or empty for the image's default user. */
  readonly user: string;
  readonly binds: readonly string[];
  readonly devices: readonly DeviceMapping[];
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly securityOpt: readonly string[];
  readonly privileged: boolean;
  readonly cpusPerDock: number;
  readonly memoryBytes: number;
  readonly swapBytes: number;
  readonly network: string;
  readonly env: readonly string[];
  /** Most processes per pilot (PidsLimit); 0: no limit. */
  readonly pidsLimit: number;
}

/** The host the engine runs on, as the engine describes it. */
export interface EngineInfo {
  readonly hostName: string;
  /** `cgroupfs` or `systemd`. */
  readonly cgroupDriver: string;
  /** `1` or `2`. */
  readonly cgroupVersion: string;
}

/** Docker's AuthConfig for one registry: what goes, base64-encoded, into X-Registry-Auth. */
export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: string;
  readonly identitytoken?: string;
  readonly registrytoken?: string;
  readonly serveraddress: string;
}

/** Where a pull comes from and with which credentials; the secrets go only into the engine's X-Registry-Auth header. */
export interface PullSource {
  /** The registry as Docker names it (`docker.io`, `host:port`), for messages. */
  readonly registry: string;
  /** The credentials; none: an anonymous pull. */
  readonly auth?: RegistryCredentials | undefined;
  /** Where the credentials came from (e.g. `user alice from /etc/plancton/registry.json`), never a secret. */
  readonly from?: string | undefined;
}

/** What `max_docks` may know of the host, besides the two memory keys. */
export interface HostFacts {
  readonly ncpus: number;
  readonly ramBytes: number;
  readonly swapBytes: number;
}
