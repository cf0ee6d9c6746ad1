using System.Management.Automation;

namespace CassaFS.PowerShell.Provider;

/// <summary>A cassa: drive: the PowerShell drive plus the servers and filesystem it holds open.</summary>
public sealed class CassaDriveInfo : PSDriveInfo
{
    public CassaDriveInfo(PSDriveInfo drive, CassaDriveSession session) : base(drive) => Session = session;

    /// <summary>The open connection (closed by Remove-PSDrive).</summary>
    public CassaDriveSession Session { get; }

    public string Keyspace => Session.Parameters.Keyspace;
    public string LockMode => Session.Parameters.LockMode;
}

/// <summary>New-PSDrive -PSProvider CassaFS's own parameters.</summary>
public sealed class CassaDriveParameters
{
    [Parameter]
    public string[] ContactPoints { get; set; } = ["127.0.0.1"];

    [Parameter]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = 9042;

    [Parameter]
    public string Keyspace { get; set; } = "cassafs";

    [Parameter]
    public string ZooKeeper { get; set; } = "127.0.0.1:2181";

    [Parameter]
    [ValidateSet("Any", "One", "Two", "Three", "Quorum", "All", "LocalQuorum", "EachQuorum", "LocalOne", IgnoreCase = true)]
    public string Consistency { get; set; } = "Quorum";

    [Parameter]
    [ValidateSet("zookeeper", "lwt", "bakery", "local", IgnoreCase = true)]
    public string LockMode { get; set; } = "zookeeper";

    [Parameter]
    [ValidateRange(0, 86400)]
    public double LockTimeoutSeconds { get; set; } = 30;

    [Parameter]
    [ValidateRange(1, 600)]
    public double ConnectTimeoutSeconds { get; set; } = 5;

    /// <summary>The drive parameters, with credentials from New-PSDrive -Credential.</summary>
    public DriveParameters ToDriveParameters(PSCredential? credential) => new()
    {
        ContactPoints = ContactPoints,
        Port = Port,
        Keyspace = Keyspace,
        ZooKeeper = ZooKeeper,
        Consistency = DriveParameters.ParseConsistency(Consistency),
        LockMode = DriveParameters.ParseLockMode(LockMode),
        LockTimeout = TimeSpan.FromSeconds(LockTimeoutSeconds),
        ConnectTimeout = TimeSpan.FromSeconds(ConnectTimeoutSeconds),
        UserName = credential is null || credential == PSCredential.Empty ? null : credential.UserName,
        Password = credential is null || credential == PSCredential.Empty ? null : credential.GetNetworkCredential().Password,
    };
}

/// <summary>Get-Content's parameters on a cassa: drive.</summary>
public sealed class CassaContentReaderParameters
{
    [Parameter]
    public string? Encoding { get; set; }

    [Parameter]
    public SwitchParameter Raw { get; set; }

    [Parameter]
    public SwitchParameter AsByteStream { get; set; }

    [Parameter]
    public double? LockTimeoutSeconds { get; set; }
}

/// <summary>Set-Content / Add-Content's parameters on a cassa: drive.</summary>
public sealed class CassaContentWriterParameters
{
    [Parameter]
    public string? Encoding { get; set; }

    [Parameter]
    public SwitchParameter AsByteStream { get; set; }

    [Parameter]
    public SwitchParameter NoNewline { get; set; }

    [Parameter]
    public double? LockTimeoutSeconds { get; set; }
}

/// <summary>Get-ChildItem's parameters on a cassa: drive.</summary>
public sealed class CassaChildItemParameters
{
    [Parameter]
    public SwitchParameter Directory { get; set; }

    [Parameter]
    public SwitchParameter File { get; set; }
}

/// <summary>Clear-Content's parameters on a cassa: drive.</summary>
public sealed class CassaClearContentParameters
{
    [Parameter]
    public double? LockTimeoutSeconds { get; set; }
}
