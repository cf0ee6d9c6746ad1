using System.Management.Automation;
using CassaFS.Locks;
using CassaFS.PowerShell.Provider;

namespace CassaFS.PowerShell.Commands;

/// <summary>Get-CassaLock: holders and waiters of files' locks, by path, or every file lock on a drive.</summary>
[Cmdlet(VerbsCommon.Get, "CassaLock", DefaultParameterSetName = "Drive")]
[OutputType(typeof(LockView))]
public sealed class GetCassaLockCommand : PathCmdlet
{
    /// <summary>The drive whose locks to list (default: the current location's).</summary>
    [Parameter(ParameterSetName = "Drive")]
    public string? Drive { get; set; }

    /// <summary>Every lock, not only files' locks: the filesystem's own inode, entry and path locks too.</summary>
    [Parameter(ParameterSetName = "Drive")]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Drive")
        {
            try
            {
                var drive = DriveNamed(Drive);
                var commands = new LockCommands(drive);
                var locks = StopToken.Wait(async ct =>
                {
                    var list = new List<LockView>();
                    await foreach (var l in commands.ListAsync(All, ct).ConfigureAwait(false)) list.Add(l);
                    return list;
                });
                WriteObject(locks, true);
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteFailure(e, Drive);
            }
            return;
        }
        ForEachGivenPath((drive, path) => WriteObject(StopToken.Wait(ct => new LockCommands(drive).GetAsync(path, ct))));
    }
}

/// <summary>Lock-CassaItem: takes a file's lock (Read: shared, Write: exclusive), waiting up to -Timeout; returns the handle.</summary>
[Cmdlet(VerbsCommon.Lock, "CassaItem", SupportsShouldProcess = true, DefaultParameterSetName = "Path")]
[OutputType(typeof(CassaLockHandle))]
public sealed class LockCassaItemCommand : PathCmdlet
{
    [Parameter]
    public LockMode Mode { get; set; } = LockMode.Write;

    /// <summary>Seconds to wait for another holder (default: the drive's lock timeout).</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public double? Timeout { get; set; }

    /// <summary>What the lock is for, shown to others in Get-CassaLock.</summary>
    [Parameter]
    public string? Purpose { get; set; }

    protected override void ProcessRecord()
    {
        ForEachGivenPath((drive, path) =>
        {
            if (!ShouldProcess(path, $"Lock ({Mode})")) return;
            var timeout = Timeout is { } t ? TimeSpan.FromSeconds(t) : (TimeSpan?)null;
            WriteObject(StopToken.Wait(ct => new LockCommands(drive).LockAsync(path, Mode, timeout, Purpose, ct)));
        });
    }
}

/// <summary>Unlock-CassaItem: releases handles from Lock-CassaItem (from the pipeline).</summary>
[Cmdlet(VerbsCommon.Unlock, "CassaItem", SupportsShouldProcess = true)]
public sealed class UnlockCassaItemCommand : CassaCmdlet
{
    [Parameter(Position = 0, Mandatory = true, ValueFromPipeline = true)]
    public CassaLockHandle[] Handle { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var h in Handle)
        {
            if (!ShouldProcess(h.Path, $"Unlock ({h.Mode})")) continue;
            try
            {
                StopToken.Wait(async ct => { await LockCommands.UnlockAsync(h, ct).ConfigureAwait(false); return true; });
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteFailure(e, h.Path);
            }
        }
    }
}

/// <summary>Remove-CassaLock: breaks a file's lock whose holder is gone (asks for confirmation unless -Force).</summary>
[Cmdlet(VerbsCommon.Remove, "CassaLock", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Path")]
[OutputType(typeof(LockParticipant))]
public sealed class RemoveCassaLockCommand : PathCmdlet
{
    /// <summary>A lock key as Get-CassaLock lists it (advisory/..., inode/...).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Key", ValueFromPipelineByPropertyName = true)]
    public string Key { get; set; } = "";

    [Parameter(ParameterSetName = "Key")]
    public string? Drive { get; set; }

    /// <summary>Break only this holder (the Id Get-CassaLock shows); default: every holder.</summary>
    [Parameter]
    public string? ParticipantId { get; set; }

    [Parameter]
    public string Reason { get; set; } = "broken by an operator with Remove-CassaLock";

    [Parameter]
    public SwitchParameter Force { get; set; }

    // High impact, so PowerShell asks unless -Confirm:$false; -Force skips the question too; -WhatIf always wins.
    private bool Confirmed(string target) =>
        Force && !MyInvocation.BoundParameters.ContainsKey("WhatIf")
            ? true
            : ShouldProcess(target, "Break lock (its holder loses it without being asked)");

    protected override void ProcessRecord()
    {
        var by = $"{Environment.UserName}@{Environment.MachineName}: {Reason}";
        if (ParameterSetName == "Key")
        {
            try
            {
                var drive = DriveNamed(Drive);
                if (Confirmed(Key))
                    WriteObject(StopToken.Wait(ct => new LockCommands(drive).BreakKeyAsync(LockKey.Parse(Key), by, ParticipantId, ct)), true);
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteFailure(e, Key);
            }
            return;
        }
        ForEachGivenPath((drive, path) =>
        {
            if (!Confirmed(path)) return;
            WriteObject(StopToken.Wait(ct => new LockCommands(drive).BreakAsync(path, by, ParticipantId, ct)), true);
        });
    }
}
