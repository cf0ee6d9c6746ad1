using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Xunit;

namespace CassaFS.Testing;

#pragma warning disable CA1707 // The constants keep the C headers' names.

/// <summary>Direct syscalls, so tests see the errno the kernel hands back through a mount (shared by the FUSE and CLI tests).</summary>
public static unsafe partial class Posix
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40;
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
    public const int AT_FDCWD = -100;
    public const uint RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2;
    public const int XATTR_CREATE = 1, XATTR_REPLACE = 2;
    public const int SIGKILL = 9, SIGTERM = 15;
    public const int ENOENT = 2, EAGAIN = 11, EEXIST = 17;

    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags, int mode);

    /// <summary>open(2), close-on-exec: tools other tests start meanwhile must not inherit (and keep alive) the file.</summary>
    public static int Open(string path, int flags, int mode = 420) => OpenRaw(path, flags | O_CLOEXEC, mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static partial nint PRead(int fd, byte[] buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MkDir(string path, int mode);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int RmDir(string path);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(string from, string to);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int RenameAt2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "setxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetXAttr(string path, string name, byte[] value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "getxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint GetXAttr(string path, string name, byte[]? value, nuint size);

    [LibraryImport("libc", EntryPoint = "listxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint ListXAttr(string path, byte[]? list, nuint size);

    [LibraryImport("libc", EntryPoint = "removexattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int RemoveXAttr(string path, string name);

    public const int F_GETLK = 5, F_SETLK = 6, F_SETLKW = 7;
    public const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;

    /// <summary>struct flock on LP64 Linux.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public struct FlockRange
    {
        [FieldOffset(0)] public short Type;
        [FieldOffset(2)] public short Whence;
        [FieldOffset(8)] public long Start;
        [FieldOffset(16)] public long Length;
        [FieldOffset(24)] public int Pid;
    }

    // fcntl is variadic; on x86-64 and arm64 Linux a pointer third argument travels like a fixed one.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command, ref FlockRange range);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>Runs a tool and returns its exit code and output.</summary>
    public static (int Exit, string Out, string Err) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 60 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a tool that must succeed and returns its standard output.</summary>
    public static string Ok(string file, params string[] args)
    {
        var (exit, stdout, stderr) = Run(file, args);
        Assert.True(exit == 0, $"{file} {string.Join(' ', args)} exited {exit}: {stderr}");
        return stdout;
    }

    public static bool IsMounted(string mountPoint) =>
        File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4] == mountPoint.Replace(" ", "\\040", StringComparison.Ordinal));

    public static string Utf8(byte[] b, int n) => Encoding.UTF8.GetString(b, 0, n);
}
