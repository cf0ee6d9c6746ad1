using System.Globalization;

namespace CassaFS.ZooKeeper;

/// <summary>A parsed connect string: <c>host:port[,host:port...][/chroot]</c>.</summary>
public sealed class ConnectString
{
    private ConnectString(IReadOnlyList<(string Host, int Port)> servers, string? chroot)
    {
        Servers = servers;
        Chroot = chroot;
    }

    public IReadOnlyList<(string Host, int Port)> Servers { get; }

    /// <summary>The path every client path is relative to, or null for the root.</summary>
    public string? Chroot { get; }

    public static ConnectString Parse(string connectString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectString);
        var text = connectString.Trim();
        string? chroot = null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            chroot = text[slash..].TrimEnd('/');
            text = text[..slash];
            if (chroot.Length == 0) chroot = null;
            else PathRules.Validate(chroot, sequential: false);
        }
        var servers = new List<(string, int)>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string host;
            var port = 2181;
            if (raw.StartsWith('['))
            {
                var close = raw.IndexOf(']', StringComparison.Ordinal);
                if (close < 0) throw new ArgumentException($"Bad server '{raw}' in connect string '{connectString}': missing ']'.", nameof(connectString));
                host = raw[1..close];
                if (close + 1 < raw.Length) port = ParsePort(raw[(close + 2)..], raw, connectString);
            }
            else
            {
                var colon = raw.LastIndexOf(':');
                host = colon < 0 ? raw : raw[..colon];
                if (colon >= 0) port = ParsePort(raw[(colon + 1)..], raw, connectString);
            }
            if (host.Length == 0) throw new ArgumentException($"Bad server '{raw}' in connect string '{connectString}': no host.", nameof(connectString));
            servers.Add((host, port));
        }
        if (servers.Count == 0) throw new ArgumentException($"Connect string '{connectString}' names no server; expected host:port[,host:port...][/chroot].", nameof(connectString));
        return new ConnectString(servers, chroot);
    }

    private static int ParsePort(string text, string raw, string connectString) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536
            ? p
            : throw new ArgumentException($"Bad port in '{raw}' of connect string '{connectString}'.", nameof(connectString));

    /// <summary>The path the server knows for a client path.</summary>
    internal string ToServer(string clientPath) =>
        Chroot is null ? clientPath : clientPath == "/" ? Chroot : Chroot + clientPath;

    /// <summary>The client path for a path the server reports.</summary>
    internal string ToClient(string serverPath)
    {
        if (Chroot is null) return serverPath;
        if (serverPath == Chroot) return "/";
        return serverPath.StartsWith(Chroot + "/", StringComparison.Ordinal) ? serverPath[Chroot.Length..] : serverPath;
    }
}

/// <summary>What ZooKeeper accepts as a node path (PathUtils.validatePath), checked before a request is sent.</summary>
internal static class PathRules
{
    public static void Validate(string path, bool sequential)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0 || path[0] != '/') throw new ArgumentException($"ZooKeeper path '{path}' must start with '/'.", nameof(path));
        if (path.Length == 1) return;
        if (path[^1] == '/' && !sequential) throw new ArgumentException($"ZooKeeper path '{path}' must not end with '/'.", nameof(path));
        var segments = path.Split('/');
        for (var i = 1; i < segments.Length; i++)
        {
            var s = segments[i];
            if (s.Length == 0 && !(sequential && i == segments.Length - 1))
                throw new ArgumentException($"ZooKeeper path '{path}' has an empty segment.", nameof(path));
            if (s is "." or "..") throw new ArgumentException($"ZooKeeper path '{path}' has a relative segment '{s}'.", nameof(path));
            foreach (var c in s)
                if (c == '\0' || (c > '\u0000' && c < '\u001f') || (c >= '\u007f' && c <= '\u009f') || (c >= '\ud800' && c <= '\uf8ff') || (c >= '\ufff0'))
                    throw new ArgumentException($"ZooKeeper path '{path}' has an invalid character (U+{(int)c:X4}).", nameof(path));
        }
    }
}
