using System.Management.Automation;
using CassaFS.Client;

namespace CassaFS.PowerShell.Provider;

/// <summary>A cassa: drive: the PowerShell drive plus the servers and filesystem it holds open.</summary>
public sealed class CassaDriveInfo : PSDriveInfo
{
    public CassaDriveInfo(PSDriveInfo drive, CassaDriveSession session) : base(drive) => Session = session;

    /// <summary>The open connection (closed by Remove-PSDrive).</summary>
    public CassaDriveSession Session { get; }

    public string Keyspace => Session.Parameters.Servers.Keyspace;

    /// <summary>The lock mode as users type it ("zookeeper").</summary>
    public string LockMode => ClientSettings.Name(Session.Parameters.Servers.LockMode);

    /// <summary>This drive's bakery participant index (bakery lock mode), else null.</summary>
    public int? BakeryParticipant => Session.BakeryParticipant;

    /// <summary>Bytes in use, from the filesystem's statfs (what Get-PSDrive shows as Used).</summary>
    public long? UsedBytes => StatFs()?.Used;

    /// <summary>Bytes free, from the filesystem's statfs (what Get-PSDrive shows as Free).</summary>
    public long? FreeBytes => StatFs()?.Free;

    private (long Used, long Free)? StatFs()
    {
        try
        {
            var s = CancellationToken.None.Wait(ct => Session.FileSystem.StatFsAsync(ct));
            return (s.UsedBlocks * s.BlockSize, s.FreeBlocks * s.BlockSize);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            return null; // a drive whose servers are gone shows no figures, as a FileSystem drive that is not ready
        }
    }

    /// <summary>The filesystem directory the drive stands on (-Root); <see cref="PSDriveInfo.Root"/> is "name:/".</summary>
    public string FileSystemRoot => Session.Root;
}

/// <summary>Which cassa: drive a provider path belongs to, for the provider and the cmdlets alike.</summary>
internal static class CassaDrives
{
    /// <summary>The CassaFS drive of that name, or null.</summary>
    public static CassaDriveInfo? Named(SessionState state, string name) =>
        state.Drive.GetAllForProvider("CassaFS").OfType<CassaDriveInfo>().FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The drive a provider path names ("cassa:/a/b"); a path without one (typed as CassaFS::/a/b) is on the command's
    /// drive, else on the only CassaFS drive there is.
    /// </summary>
    /// <exception cref="ArgumentException">No such drive, or several could hold the path.</exception>
    public static CassaDriveInfo Holding(SessionState state, PSDriveInfo? commandDrive, string path)
    {
        ArgumentNullException.ThrowIfNull(state);
        var name = ProviderPath.DriveNameOf(path ?? "");
        if (name is not null)
        {
            if (commandDrive is CassaDriveInfo same && string.Equals(same.Name, name, StringComparison.OrdinalIgnoreCase)) return same;
            return Named(state, name) ?? throw new ArgumentException($"'{path}' names drive {name}:, which is not a CassaFS drive (any more); create it with New-PSDrive -Name {name} -PSProvider CassaFS.", nameof(path));
        }
        if (commandDrive is CassaDriveInfo current) return current;
        var all = state.Drive.GetAllForProvider("CassaFS").OfType<CassaDriveInfo>().ToList();
        return all.Count == 1
            ? all[0]
            : throw new ArgumentException(all.Count == 0
                ? $"'{path}' is on no CassaFS drive; create one with New-PSDrive -PSProvider CassaFS."
                : $"'{path}' names no drive and {all.Count} CassaFS drives exist; use a drive-qualified path such as {all[0].Name}:{path}.", nameof(path));
    }
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

    /// <summary>Bakery lock mode: this client's participant index (default: a free one is claimed).</summary>
    [Parameter]
    [ValidateRange(0, 1023)]
    public int? BakeryParticipant { get; set; }

    /// <summary>Bakery lock mode: the number of participants, the same for every client.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int BakeryParticipants { get; set; } = 8;

    [Parameter]
    [ValidateRange(1, 600)]
    public double ConnectTimeoutSeconds { get; set; } = 5;

    /// <summary>The drive parameters, with credentials from New-PSDrive -Credential.</summary>
    public DriveParameters ToDriveParameters(PSCredential? credential) => new()
    {
        Servers = ServerSettings(ContactPoints, Port, Keyspace, ZooKeeper, Consistency, LockMode, credential) with
        {
            BakeryParticipant = BakeryParticipant,
            BakeryParticipants = BakeryParticipants,
            ConnectTimeout = TimeSpan.FromSeconds(ConnectTimeoutSeconds),
        },
        LockTimeout = TimeSpan.FromSeconds(LockTimeoutSeconds),
    };

    /// <summary>
    /// The settings from the server parameters New-PSDrive and the -ContactPoints cmdlets share, as PowerShell binds
    /// them (consistency and lock mode as text, the credential as New-PSDrive -Credential gives it).
    /// </summary>
    internal static ClientSettings ServerSettings(string[] contactPoints, int port, string keyspace, string zooKeeper, string consistency, string lockMode, PSCredential? credential)
    {
        var given = credential is not null && credential != PSCredential.Empty;
        return new ClientSettings
        {
            ContactPoints = contactPoints,
            Port = port,
            Keyspace = keyspace,
            ZooKeeper = zooKeeper,
            Consistency = ClientSettings.ParseConsistency(consistency),
            LockMode = ClientSettings.ParseLockMode(lockMode),
            UserName = given ? credential!.UserName : null,
            Password = given ? credential!.GetNetworkCredential().Password : null,
        };
    }
}

/// <summary>Get-Content's parameters on a cassa: drive.</summary>
public sealed class CassaContentReaderParameters
{
    /// <summary>An encoding name (utf8, unicode, ...), a code page, or an Encoding object.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(EncodingNames))]
    public object? Encoding { get; set; }

    [Parameter]
    public SwitchParameter Raw { get; set; }

    [Parameter]
    public SwitchParameter AsByteStream { get; set; }

    /// <summary>Take the file's shared lock, waiting this long for a writer; without it Get-Content never waits.</summary>
    [Parameter]
    public double? LockTimeoutSeconds { get; set; }

    [Parameter]
    public string? Delimiter { get; set; }

    /// <summary>Keep reading what is appended (by this or any other client) until stopped.</summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }
}

/// <summary>Set-Content / Add-Content's parameters on a cassa: drive.</summary>
public sealed class CassaContentWriterParameters
{
    /// <summary>An encoding name (utf8, unicode, ...), a code page, or an Encoding object.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(EncodingNames))]
    public object? Encoding { get; set; }

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

    /// <summary>Only items whose attributes match, in the FileSystem provider's syntax ("Directory", "!Directory", "ReadOnly+Hidden").</summary>
    [Parameter]
    public FlagsExpression<FileAttributes>? Attributes { get; set; }

    /// <summary>With -Recurse, descend into directories that symbolic links point to.</summary>
    [Parameter]
    public SwitchParameter FollowSymlink { get; set; }

    /// <summary>Only hidden items (names starting with '.').</summary>
    [Parameter]
    public SwitchParameter Hidden { get; set; }

    /// <summary>Only items this user may not write.</summary>
    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    /// <summary>Accepted as on Unix, where no item is a system file: it lists nothing.</summary>
    [Parameter]
    public SwitchParameter System { get; set; }
}

/// <summary>Test-Path's parameters on a cassa: drive.</summary>
public sealed class CassaItemExistsParameters
{
    /// <summary>True only when the item was last written before this time.</summary>
    [Parameter]
    public DateTime? OlderThan { get; set; }

    /// <summary>True only when the item was last written after this time.</summary>
    [Parameter]
    public DateTime? NewerThan { get; set; }
}

/// <summary>Clear-Content's parameters on a cassa: drive.</summary>
public sealed class CassaClearContentParameters
{
    [Parameter]
    public double? LockTimeoutSeconds { get; set; }
}

/// <summary>Tab completion of -Encoding with the names PowerShell 7 accepts.</summary>
public sealed class EncodingNames : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, System.Management.Automation.Language.CommandAst commandAst, System.Collections.IDictionary fakeBoundParameters) =>
        TextEncodings.Names.Where(n => n.StartsWith(wordToComplete ?? "", StringComparison.OrdinalIgnoreCase)).Select(n => new CompletionResult(n));
}
