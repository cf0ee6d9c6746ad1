using System.Management.Automation;
using CassaFS.Client;
using CassaFS.PowerShell.Provider;

namespace CassaFS.PowerShell.Commands;

/// <summary>Cmdlets that reach the servers either through a cassa: drive (-Drive) or directly (-ContactPoints ...).</summary>
public abstract class ServerCmdlet : CassaCmdlet
{
    /// <summary>Take the servers, keyspace and lock mode of this cassa: drive.</summary>
    [Parameter(ParameterSetName = "Drive")]
    public string? Drive { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "Servers")]
    public string[] ContactPoints { get; set; } = [];

    [Parameter(ParameterSetName = "Servers")]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = 9042;

    [Parameter(ParameterSetName = "Servers")]
    public string Keyspace { get; set; } = "cassafs";

    [Parameter(ParameterSetName = "Servers")]
    public string ZooKeeper { get; set; } = "127.0.0.1:2181";

    [Parameter(ParameterSetName = "Servers")]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter(ParameterSetName = "Servers")]
    public string Consistency { get; set; } = "Quorum";

    [Parameter(ParameterSetName = "Servers")]
    [ValidateSet("zookeeper", "lwt", "bakery", "local", IgnoreCase = true)]
    public string LockMode { get; set; } = "zookeeper";

    /// <summary>The servers as given, or the drive's.</summary>
    protected ClientSettings Servers() =>
        ParameterSetName == "Servers"
            ? CassaDriveParameters.ServerSettings(ContactPoints, Port, Keyspace, ZooKeeper, Consistency, LockMode, Credential)
            : DriveNamed(Drive).Parameters.Servers;
}
