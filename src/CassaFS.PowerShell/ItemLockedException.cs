using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>A file's lock stayed held by another client past the timeout; names the holders (ErrorCategory ResourceBusy).</summary>
public sealed class ItemLockedException : Exception
{
    public ItemLockedException(string path, LockTimeoutException inner)
        : base($"{path} is locked by {Describe(inner?.Holders ?? [])}. {inner?.Message} Try again when it is released, raise -LockTimeout, or (if the holder is gone) break it with Remove-CassaLock.", inner)
    {
        Path = path;
        Holders = inner?.Holders ?? [];
    }

    public string Path { get; }
    public IReadOnlyList<LockParticipant> Holders { get; }

    private static string Describe(IReadOnlyList<LockParticipant> holders) =>
        holders.Count == 0 ? "another client (released since: retry)" : string.Join("; ", holders.Select(h => $"{h.Holder} [{h.Mode}]"));
}
