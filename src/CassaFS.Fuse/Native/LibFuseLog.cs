using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace CassaFS.Fuse.Native;

/// <summary>
/// Routes libfuse's log output: messages logged on a thread inside <see cref="Capture"/> (session creation, mount)
/// are kept for the exception message; everything else goes to stderr as libfuse would print it.
/// </summary>
internal static unsafe class LibFuseLog
{
    private static int _installed;

    [ThreadStatic]
    private static StringBuilder? _captured;

    internal static Scope Capture()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 0)
        {
            LibFuse.SetLogFunc(&OnLog);
        }
        var previous = _captured;
        _captured = new StringBuilder();
        return new Scope(previous);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(int level, byte* format, nint args)
    {
        try
        {
            const int Size = 2048;
            byte* buffer = stackalloc byte[Size];
            int n = LibC.VsnPrintf(buffer, Size, format, args);
            if (n < 0)
            {
                return;
            }
            string text = Encoding.UTF8.GetString(buffer, Math.Min(n, Size - 1)).TrimEnd('\n');
            if (_captured is { } sink)
            {
                if (sink.Length > 0)
                {
                    sink.Append("; ");
                }
                sink.Append(text);
            }
            else
            {
                Console.Error.WriteLine("libfuse: " + text);
            }
        }
#pragma warning disable CA1031 // Nothing may unwind into libfuse.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    internal readonly struct Scope(StringBuilder? previous) : IDisposable
    {
        public static string Text(string whenEmpty)
        {
            var s = _captured?.ToString();
            return string.IsNullOrWhiteSpace(s) ? whenEmpty : s;
        }

        public void Dispose() => _captured = previous;
    }
}
