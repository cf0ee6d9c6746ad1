using System.Text.RegularExpressions;
using CassaFS.Cql;

namespace CassaFS.Locks;

/// <summary>Keyspace names checked before they go into statement text (values are always bound, names cannot be).</summary>
internal static partial class CqlIdentifier
{
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,47}$", RegexOptions.CultureInvariant)]
    private static partial Regex Unquoted();

    public static string Keyspace(string keyspace)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyspace);
        if (!Unquoted().IsMatch(keyspace))
            throw new ArgumentException($"'{keyspace}' is not a keyspace name CassaFS accepts: a letter, then up to 47 letters, digits or underscores.", nameof(keyspace));
        return keyspace.ToLowerInvariant();
    }

    /// <summary>An LWT whose outcome nobody knows: the client gave up waiting, or the Paxos round timed out, or the connection died after sending.</summary>
    public static bool IsUnknownOutcome(Exception e) => e switch
    {
        CqlClientTimeoutException => true,
        CqlWriteTimeoutException w => w.WriteType is "CAS" or "SIMPLE",
        CqlConnectionException c => c.MayHaveBeenApplied,
        _ => false,
    };

    /// <summary>The service could not be asked right now (nothing applied, or unknown): try again later.</summary>
    public static bool IsTransient(Exception e) =>
        IsUnknownOutcome(e) || e is CqlUnavailableException or CqlNoHostAvailableException or CqlConnectionException or CqlOverloadedException or CqlReadTimeoutException;
}
