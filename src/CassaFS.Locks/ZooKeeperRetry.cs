using CassaFS.ZooKeeper;

namespace CassaFS.Locks;

/// <summary>
/// How the lock recipe treats a ZooKeeper answer that leaves an operation's outcome unknown, in one place (after
/// kazoo's <c>KazooRetry</c>): which errors are unsure (<see cref="IsUnsure"/>), how many attempts (until sure, or
/// once for a step the recipe checks again later anyway), how long to pause before the next attempt, and how an
/// attempt first settles what the unsure one may have done (a create whose reply was lost looks for its node by GUID
/// before creating again). Every other error ends the attempts and reaches the caller: SessionExpired above all, so a
/// lost session is reported as lost, never retried.
/// </summary>
internal static class ZooKeeperRetry
{
    /// <summary>The shortest and longest pause after an unsure answer that came back at once (jittered, so that waiters do not retry in step).</summary>
    private const int MinPauseMs = 20, MaxPauseMs = 100;

    /// <summary>
    /// Errors after which the request may or may not have been applied, or was refused for now: the connection broke
    /// (ConnectionLoss), the server gave up waiting for the quorum (OperationTimeout, RequestTimeout), the session moved
    /// to another server during a failover (SessionMoved), or the server sheds load (Throttled).
    /// </summary>
    public static bool IsUnsure(ZooKeeperException e) =>
        e is ConnectionLossException ||
        e.Code is ErrorCode.OperationTimeout or ErrorCode.RequestTimeout or ErrorCode.SessionMoved or ErrorCode.Throttled;

    /// <summary>
    /// Runs <paramref name="operation"/> until an attempt is answered for sure; after an unsure answer and its pause,
    /// <paramref name="settled"/> (when given) finds out whether the unsure attempt took effect after all, and true
    /// ends it there, without another attempt. For operations that are safe to repeat once settled.
    /// </summary>
    public static Task UntilSureAsync(Func<CancellationToken, Task> operation, CancellationToken ct, Func<CancellationToken, Task<bool>>? settled = null) =>
        RunAsync(operation, int.MaxValue, settled, ct);

    /// <summary>Reads until an attempt is answered for sure, and returns that answer (a read is always safe to repeat).</summary>
    public static async Task<T> UntilSureAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken ct)
    {
        T answer = default!;
        await RunAsync(async t => answer = await read(t).ConfigureAwait(false), int.MaxValue, null, ct).ConfigureAwait(false);
        return answer;
    }

    /// <summary>One attempt: true when it was answered for sure, false when the answer was unsure (for a step checked again later).</summary>
    public static Task<bool> OnceAsync(Func<CancellationToken, Task> operation, CancellationToken ct) =>
        RunAsync(operation, 1, null, ct);

    private static async Task<bool> RunAsync(Func<CancellationToken, Task> operation, int attempts, Func<CancellationToken, Task<bool>>? settled, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await operation(ct).ConfigureAwait(false);
                return true;
            }
            catch (ZooKeeperException e) when (IsUnsure(e))
            {
                if (attempt >= attempts) return false;
                await PauseAfter(e, ct).ConfigureAwait(false);
                if (settled is not null && await settled(ct).ConfigureAwait(false)) return true;
            }
        }
    }

    /// <summary>A ConnectionLoss retry already waits for the next connection; the other answers come back at once, so back off a little.</summary>
    private static Task PauseAfter(ZooKeeperException e, CancellationToken ct) =>
        e is ConnectionLossException ? Task.CompletedTask : Task.Delay(Random.Shared.Next(MinPauseMs, MaxPauseMs), ct);
}
