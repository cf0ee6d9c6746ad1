using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CassaFS.Client;
using CassaFS.Cql;

namespace CassaFS.Cli;

/// <summary>How to reach a filesystem's servers. Each value comes from the command line, else the environment, else the config file, else the default.</summary>
public sealed record ConnectionSettings
{
    public const string DefaultKeyspace = "cassafs";

    /// <summary>Cassandra contact points ("host" or "host:port").</summary>
    public IReadOnlyList<string> ContactPoints { get; init; } = ["127.0.0.1"];

    /// <summary>Port for contact points that name none.</summary>
    public int Port { get; init; } = 9042;

    public string Keyspace { get; init; } = DefaultKeyspace;

    /// <summary>ZooKeeper connect string, chroot allowed ("h1:2181,h2:2181/cassafs").</summary>
    public string ZooKeeper { get; init; } = "127.0.0.1:2181";

    public string? User { get; init; }

    /// <summary>Never printed: <see cref="ToString"/> leaves it out.</summary>
    public string? Password { get; init; }

    public Consistency Consistency { get; init; } = Consistency.Quorum;

    /// <summary>zookeeper, lwt, bakery or local.</summary>
    public string LockMode { get; init; } = "zookeeper";

    public static readonly IReadOnlyList<string> LockModes = ["zookeeper", "lwt", "bakery", "local"];

    /// <summary>The Cassandra hosts as a user reads them ("127.0.0.1:9042, 10.0.0.2:9042").</summary>
    public string CassandraHosts => string.Join(", ", ContactPoints.Select(c => c.Contains(':', StringComparison.Ordinal) ? c : $"{c}:{Port}"));

    public override string ToString() =>
        $"cassandra {CassandraHosts}, keyspace {Keyspace}, consistency {Consistency}, locks {LockMode}" +
        (LockMode == "zookeeper" ? $" (zookeeper {ZooKeeper})" : "") + (User is null ? "" : $", user {User}");

    /// <summary>Bakery lock mode: this client's participant index (CASSAFS_BAKERY_PARTICIPANT); null claims a free one.</summary>
    public int? BakeryParticipant { get; init; }

    /// <summary>Bakery lock mode: how many participants there are (CASSAFS_BAKERY_PARTICIPANTS, default 8).</summary>
    public int BakeryParticipants { get; init; } = 8;

    /// <summary>The settings every face connects with.</summary>
    public ClientSettings ToClientSettings() => new()
    {
        ContactPoints = ContactPoints,
        Port = Port,
        Keyspace = Keyspace,
        ZooKeeper = ZooKeeper,
        UserName = User,
        Password = Password,
        Consistency = Consistency,
        LockMode = ClientSettings.ParseLockMode(LockMode),
        BakeryParticipant = BakeryParticipant,
        BakeryParticipants = BakeryParticipants,
    };

    /// <summary>
    /// Layers the sources: <paramref name="given"/> (command-line values, null where not given) over the environment
    /// (CASSAFS_CONTACT_POINTS, CASSAFS_PORT, CASSAFS_KEYSPACE, CASSAFS_ZOOKEEPER, CASSAFS_USER, CASSAFS_PASSWORD,
    /// CASSAFS_CONSISTENCY, CASSAFS_LOCK_MODE) over the JSON config file over the defaults.
    /// </summary>
    /// <exception cref="UsageException">A value is malformed or the config file cannot be read.</exception>
    public static ConnectionSettings Resolve(ConnectionValues given, string? configFile, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(given);
        ArgumentNullException.ThrowIfNull(environment);
        var file = configFile is null ? new ConnectionValues() : ReadConfig(configFile);
        // Each setting's variable is its config key in upper snake case: contactPoints -> CASSAFS_CONTACT_POINTS.
        var env = ConnectionValues.Read(key => environment("CASSAFS_" + string.Concat(key.Select(c => char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()))));
        string? Pick(Func<ConnectionValues, string?> f) => new[] { given, env, file }.Select(f).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));

        var d = new ConnectionSettings();
        var contact = Pick(v => v.ContactPoints);
        var port = Pick(v => v.Port);
        var consistency = Pick(v => v.Consistency);
        var lockMode = Pick(v => v.LockMode)?.ToLowerInvariant();
        if (lockMode is not null && !LockModes.Contains(lockMode))
            throw new UsageException($"lock mode '{lockMode}' is not one of {string.Join(", ", LockModes)}");
        var contactPoints = contact is null ? d.ContactPoints : contact.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // "5" would parse as the address 0.0.0.5: a bare number is a port given in the wrong place.
        if (contactPoints.FirstOrDefault(c => c.All(char.IsAsciiDigit)) is { } number)
            throw new UsageException($"contact point '{number}' is a number, not a host; give host or host:port (the port alone goes in --port)");
        return new ConnectionSettings
        {
            ContactPoints = contactPoints,
            Port = port is null ? d.Port : int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p
                : throw new UsageException($"port '{port}' is not a TCP port number"),
            Keyspace = Pick(v => v.Keyspace) ?? d.Keyspace,
            ZooKeeper = Pick(v => v.ZooKeeper) ?? d.ZooKeeper,
            User = Pick(v => v.User),
            Password = Pick(v => v.Password),
            Consistency = consistency is null ? d.Consistency : ParseConsistency(consistency),
            LockMode = lockMode ?? d.LockMode,
            BakeryParticipant = Count(environment("CASSAFS_BAKERY_PARTICIPANT"), "CASSAFS_BAKERY_PARTICIPANT"),
            BakeryParticipants = Count(environment("CASSAFS_BAKERY_PARTICIPANTS"), "CASSAFS_BAKERY_PARTICIPANTS") ?? d.BakeryParticipants,
        };
    }

    private static int? Count(string? text, string variable) =>
        string.IsNullOrWhiteSpace(text) ? null
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
        : throw new UsageException($"{variable} '{text}' is not a whole number");

    public static Consistency ParseConsistency(string text) =>
        Enum.TryParse<Consistency>(text.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var c) && Enum.IsDefined(c)
            ? c
            : throw new UsageException($"consistency '{text}' is not one of {string.Join(", ", Enum.GetNames<Consistency>())}");

    /// <summary>The keys a config file may hold (any case).</summary>
    public static readonly IReadOnlyList<string> ConfigKeys = ["contactPoints", "port", "keyspace", "zookeeper", "user", "password", "consistency", "lockMode"];

    /// <summary>
    /// Reads a config file strictly: a JSON object of the known keys, each a string (contactPoints may be an array of
    /// strings, port a number). Anything else is a usage error naming the key, so a typo is not silently a default.
    /// </summary>
    private static ConnectionValues ReadConfig(string path)
    {
        if (Directory.Exists(path)) throw new UsageException($"the config file {path} is a directory; --config (or CASSAFS_CONFIG) names a JSON file");
        JsonDocument doc;
        try
        {
            using var stream = File.OpenRead(path);
            doc = JsonDocument.Parse(stream, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new UsageException($"cannot read the config file {path}: {e.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new UsageException($"the config file {path} holds a JSON {root.ValueKind.ToString().ToLowerInvariant()}; it must be an object such as {{\"contactPoints\": [\"10.0.0.1\"], \"keyspace\": \"cassafs\"}}");
            var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var p in root.EnumerateObject())
            {
                var key = ConfigKeys.FirstOrDefault(k => string.Equals(k, p.Name, StringComparison.OrdinalIgnoreCase))
                    ?? throw new UsageException($"the config file {path} has an unknown key '{p.Name}'; the keys are {string.Join(", ", ConfigKeys)}");
                values[key] = ValueOf(path, key, p.Value);
            }
            return ConnectionValues.Read(k => values.GetValueOrDefault(k));
        }
    }

    private static string? ValueOf(string path, string key, JsonElement value) => (key, value.ValueKind) switch
    {
        (_, JsonValueKind.Null) => null,
        (_, JsonValueKind.String) => value.GetString(),
        ("port", JsonValueKind.Number) => value.GetRawText(),
        ("contactPoints", JsonValueKind.Array) => string.Join(',', value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String
            ? e.GetString()
            : throw new UsageException($"the config file {path}: each of contactPoints must be a string (\"host\" or \"host:port\"), not {e.GetRawText()}"))),
        _ => throw new UsageException($"the config file {path}: {key} must be a string{(key == "contactPoints" ? " or an array of strings" : key == "port" ? " or a number" : "")}, not {value.GetRawText()}"),
    };
}

/// <summary>Connection values as one source gives them (text, null where that source says nothing).</summary>
public sealed record ConnectionValues
{
    public string? ContactPoints { get; init; }
    public string? Port { get; init; }
    public string? Keyspace { get; init; }
    public string? ZooKeeper { get; init; }
    public string? User { get; init; }
    [JsonIgnore] public string? Password { get; init; }
    public string? Consistency { get; init; }
    public string? LockMode { get; init; }

    /// <summary>The values one source holds, asked for by their config keys (contactPoints, port, keyspace, ...).</summary>
    public static ConnectionValues Read(Func<string, string?> valueOf) => new()
    {
        ContactPoints = valueOf("contactPoints"),
        Port = valueOf("port"),
        Keyspace = valueOf("keyspace"),
        ZooKeeper = valueOf("zookeeper"),
        User = valueOf("user"),
        Password = valueOf("password"),
        Consistency = valueOf("consistency"),
        LockMode = valueOf("lockMode"),
    };
}
