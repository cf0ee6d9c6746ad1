namespace CassaFS.LocalServers;

/// <summary>A local server could not be provisioned, started or stopped; the message says what to do.</summary>
public sealed class LocalServersException : Exception
{
    public LocalServersException(string message) : base(message) { }
    public LocalServersException(string message, Exception inner) : base(message, inner) { }
}
