namespace CassaFS.PowerShell;

/// <summary>A drive could not reach its servers or open its filesystem: names the server and what to check.</summary>
public sealed class CassaConnectionException : Exception
{
    public CassaConnectionException(string server, string message, Exception? inner = null) : base(message, inner) => Server = server;

    /// <summary>The server (or keyspace) that failed, as the user gave it.</summary>
    public string Server { get; }
}
