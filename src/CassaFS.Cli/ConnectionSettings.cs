using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CassaFS.Client;
using CassaFS.Cql;

namespace CassaFS.Cli;

/// <summary>
/// How the CLI comes to the one <see cref="ClientSettings"/> record every face connects with: each value from the
/// command line, else the environment, else the config file, else the record's default; and how the CLI words it.
/// </summary>
public static class ConnectionSettings
{
    /// <summary>The lock modes as users type them ("zookeeper", "lwt", "bakery", "local").</summary>
    public static readonly IReadOnlyList<string> LockModes = [.. Enum.GetValues<LockMode>().Select(ClientSettings.Name)];

    /// <summary>The Cassandra hosts as a user reads them, each with its port ("127.0.0.1:9042, 10.0.0.2:9042").</summary>
    public static string Hosts(ClientSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return string.Join(", ", settings.ContactPoints.Select(c => c.Contains(':', StringComparison.Ordinal) ? c : $"{c}:{settings.Port}"));
    }

    /// <summary>The settings as the mount daemon logs them; never the password.</summary>
    public static string Describe(ClientSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return $"cassandra {Hosts(settings)}, keyspace {settings.Keyspace}, consistency {settings.Consistency}, locks {ClientSettings.Name(settings.LockMode)}" +
               (settings.LockMode == LockMode.ZooKeeper ? $" (zookeeper {settings.ZooKeeper})" : "") + (settings.UserName is null ? "" : $", user {settings.UserName}");
    }

    /// <summary>
    /// Layers the sources: <paramref name="given"/> (command-line values, null where not given) over the environment
    /// (CASSAFS_CONTACT_POINTS, CASSAFS_PORT, CASSAFS_KEYSPACE, CASSAFS_ZOOKEEPER, CASSAFS_USER, CASSAFS_PASSWORD,
    /// CASSAFS_CONSISTENCY, CASSAFS_LOCK_MODE) over the JSON config file over the defaults.
    /// </summary>
    /// <exception cref="UsageException">A value is malformed or the config file cannot be read.</exception>
    public static ClientSettings Resolve(ConnectionValues given, string? configFile, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(given);
        ArgumentNullException.ThrowIfNull(environment);
        var file = configFile is null ? new ConnectionValues() : ReadConfig(configFile);
        // Each setting's variable is its config key in upper snake case: contactPoints -> CASSAFS_CONTACT_POINTS.
        var env = ConnectionValues.Read(key => environment("CASSAFS_" + string.Concat(key.Select(c => char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()))));
        string? Pick(Func<ConnectionValues, string?> f) => new[] { given, env, file }.Select(f).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));

        var d = new ClientSettings();
        var contact = Pick(v => v.ContactPoints);
        var port = Pick(v => v.Port);
        var consistency = Pick(v => v.Consistency);
        var lockMode = Pick(v => v.LockMode);
        var contactPoints = contact is null ? d.ContactPoints : contact.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // "5" would parse as the address 0.0.0.5: a bare number is a port given in the wrong place.
        if (contactPoints.FirstOrDefault(c => c.All(char.IsAsciiDigit)) is { } number)
            throw new UsageException($"contact point '{number}' is a number, not a host; give host or host:port (the port alone goes in --port)");
        return new ClientSettings
        {
            ContactPoints = contactPoints,
            Port = port is null ? d.Port : int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p
                : throw new UsageException($"port '{port}' is not a TCP port number"),
            Keyspace = Pick(v => v.Keyspace) ?? d.Keyspace,
            ZooKeeper = Pick(v => v.ZooKeeper) ?? d.ZooKeeper,
            UserName = Pick(v => v.User),
            Password = Pick(v => v.Password),
            Consistency = consistency is null ? d.Consistency : ParseConsistency(consistency),
            LockMode = lockMode is null ? d.LockMode : ParseLockMode(lockMode),
            BakeryParticipant = Count(environment("CASSAFS_BAKERY_PARTICIPANT"), "CASSAFS_BAKERY_PARTICIPANT"),
            BakeryParticipants = Count(environment("CASSAFS_BAKERY_PARTICIPANTS"), "CASSAFS_BAKERY_PARTICIPANTS") ?? d.BakeryParticipants,
        };
    }

    private static int? Count(string? text, string variable) =>
        string.IsNullOrWhiteSpace(text) ? null
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
        : throw new UsageException($"{variable} '{text}' is not a whole number");

    /// <summary>A consistency level as users type it ("quorum", "local_quorum"); a usage error otherwise.</summary>
    public static Consistency ParseConsistency(string text)
    {
        try
        {
            return ClientSettings.ParseConsistency(text);
        }
        catch (ArgumentException)
        {
            throw new UsageException($"consistency '{text}' is not one of {string.Join(", ", Enum.GetNames<Consistency>())}");
        }
    }

    /// <summary>
    /// A lock mode by one of its names, in any case; a usage error otherwise. Checked against the names first, because
    /// parsing the enum alone would take a number ("1") as a mode.
    /// </summary>
    private static LockMode ParseLockMode(string text)
    {
        var name = text.ToLowerInvariant();
        return LockModes.Contains(name)
            ? ClientSettings.ParseLockMode(name)
            : throw new UsageException($"lock mode '{name}' is not one of {string.Join(", ", LockModes)}");
    }

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
