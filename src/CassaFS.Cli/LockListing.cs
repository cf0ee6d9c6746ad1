using CassaFS.Locks;

namespace CassaFS.Cli;

/// <summary>Locks as `cassafs locks list` and the demo print them.</summary>
public static class LockListing
{
    /// <summary>Writes one block per lock (holders, then waiters); returns how many locks there were.</summary>
    public static async Task<int> WriteAsync(ILockProvider locks, string? prefix, TextWriter output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(locks);
        ArgumentNullException.ThrowIfNull(output);
        int n = 0;
        await foreach (var info in locks.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            if (info.Holders.Count == 0 && info.Waiters.Count == 0) continue;
            n++;
            await output.WriteLineAsync(info.Key.Value).ConfigureAwait(false);
            foreach (var h in info.Holders) await output.WriteLineAsync($"    held    {Describe(h)}").ConfigureAwait(false);
            foreach (var w in info.Waiters) await output.WriteLineAsync($"    waiting {Describe(w)}").ConfigureAwait(false);
        }
        return n;
    }

    private static string Describe(LockParticipant p) =>
        $"{(p.Mode == LockMode.Write ? "exclusive" : "shared   ")} by {p.Holder.Host} pid {p.Holder.ProcessId} for '{p.Holder.Purpose}' since {p.Holder.Since:HH:mm:ss.fff} [id {p.Id}, token {p.FencingToken}]";
}
