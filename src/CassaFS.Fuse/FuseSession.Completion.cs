using System.Buffers;
using System.Text;

namespace CassaFS.Fuse;

// The awaiting halves of the callbacks: C# forbids await in an unsafe context, so they live in a safe part.
#pragma warning disable CA1001 // See FuseSession.cs.
internal sealed partial class FuseSession
#pragma warning restore CA1001
{
    private async Task CompleteLater<T>(nint req, ValueTask<FuseResult<T>> task, Action<FuseSession, nint, T> reply)
    {
        FuseResult<T> result;
        try
        {
            result = await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Every handler failure becomes an errno.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            FailAndEnd(req, ex);
            return;
        }
        Send(req, result, reply);
    }

    private async Task CompleteLater(nint req, ValueTask<Errno> task, long interruptId)
    {
        Errno result;
        try
        {
            result = await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Every handler failure becomes an errno.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = ErrnoOf(ex);
        }
        SendErrno(req, result, interruptId);
    }

    private async Task ReadLater(nint req, ValueTask<FuseResult<int>> task, byte[] buffer, int length)
    {
        FuseResult<int> result;
        try
        {
            result = await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Every handler failure becomes an errno.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = ErrnoOf(ex);
        }
        SendRead(req, result, buffer, length);
    }

    private async Task WriteLater(nint req, ValueTask<FuseResult<int>> task, byte[] buffer)
    {
        FuseResult<int> result;
        try
        {
            result = await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Every handler failure becomes an errno.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = ErrnoOf(ex);
        }
        ArrayPool<byte>.Shared.Return(buffer);
        Send(req, result, ReplyWritten);
    }

    private async Task ReadDirectoryLater(nint req, ValueTask<Errno> task, DirectoryBuffer buffer)
    {
        Errno result;
        try
        {
            result = await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Every handler failure becomes an errno.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = ErrnoOf(ex);
        }
        SendDirectory(req, result, buffer);
    }

    private static async ValueTask<FuseResult<ReadOnlyMemory<byte>>> EncodeNames(ValueTask<FuseResult<IReadOnlyList<string>>> names)
    {
        var r = await names.ConfigureAwait(false);
        if (!r.IsSuccess)
        {
            return r.Error;
        }
        var bytes = new List<byte>();
        foreach (var n in r.Value)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(n));
            bytes.Add(0);
        }
        return new ReadOnlyMemory<byte>(bytes.ToArray());
    }
}
