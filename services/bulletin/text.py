"""The bulletin as plain text for an owners' group chat (Chinese first, or English)."""

from __future__ import annotations

from services.bulletin.view import readable
from services.tickets.bulletin_model import Document

LABELS = {
    "zh-CN": {
        "title": "{site} 每周曝光台 {week}",
        "period": "统计周期：{start} 至 {end}",
        "opened": "本周新增 {opened} 件（机器发现 {machine}，居民/线下报告 {people}），"
                  "往周未结 {carried} 件",
        "ttf": "处理时长：中位数 {median}，90% 在 {p90} 内",
        "sla": "时限达标：受理 {response}，办结 {resolution}",
        "satisfaction": "满意度：{average}（{ratings} 人评价）",
        "hot": "高发点位：",
        "replace": "（建议更换）",
        "departments": "部门排名：",
        "list": "问题清单：",
        "rejected": "不予受理",
        "unresolvable": "无法解决",
        "verify": "核验码（SHA-256）：{hash}",
        "none": "无",
    },
    "en": {
        "title": "{site} weekly exposure bulletin {week}",
        "period": "Period: {start} to {end}",
        "opened": "Opened this week: {opened} (found by machines {machine}, reported by"
                  " people {people}); still open from earlier weeks: {carried}",
        "ttf": "Time to fix: median {median}, 90% within {p90}",
        "sla": "Deadlines met: response {response}, resolution {resolution}",
        "satisfaction": "Satisfaction: {average} ({ratings} ratings)",
        "hot": "Hot spots:",
        "replace": " (consider replacement)",
        "departments": "Department ranking:",
        "list": "Tickets:",
        "rejected": "rejected",
        "unresolvable": "unresolvable",
        "verify": "Verification hash (SHA-256): {hash}",
        "none": "none",
    },
}
STATUS = {
    "zh-CN": {"resolved": "已处理", "in_progress": "处理中", "rejected": "不予受理",
              "unresolvable": "无法解决", "pending_confirmation": "待确认"},
    "en": {"resolved": "resolved", "in_progress": "in progress", "rejected": "rejected",
           "unresolvable": "unresolvable", "pending_confirmation": "awaiting confirmation"},
}


def duration(seconds: float | None, language: str = "zh-CN") -> str:
    if seconds is None:
        return "—"
    hours = seconds / 3600
    if language == "zh-CN":
        return f"{hours:.1f} 小时" if hours < 48 else f"{hours / 24:.1f} 天"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


def render_text(document: Document, language: str = "zh-CN") -> str:
    words = LABELS[language]
    doc = readable(document)
    c = doc["content"]
    s = c["summary"]
    site = c["site"]["name"] if language == "zh-CN" else c["site"]["name_en"]
    opened_people = s["by_source"].get("resident", 0) + s["by_source"].get("staff", 0)
    opened_machine = s["by_source"].get("camera", 0) + s["by_source"].get("sensor", 0)
    lines = [
        words["title"].format(site=site, week=c["week"]),
        words["period"].format(start=c["period"]["start"][:10], end=c["period"]["end"][:10]),
        words["opened"].format(opened=s["opened"], machine=opened_machine,
                               people=opened_people, carried=s["carried_over"]),
        words["ttf"].format(median=duration(s["ttf_median_s"], language),
                            p90=duration(s["ttf_p90_s"], language)),
        words["sla"].format(response=percent(s["sla_response"]["compliance"]),
                            resolution=percent(s["sla_resolution"]["compliance"])),
        words["satisfaction"].format(
            average="—" if s["satisfaction"]["average"] is None
            else f"{s['satisfaction']['average']:.1f}/5",
            ratings=s["satisfaction"]["ratings"]),
    ]
    if s["hot_spots"]:
        lines.append(words["hot"])
        lines += [f"  {h['place']} ×{h['tickets']}"
                  + (words["replace"] if h["advice"] == "consider_replacement" else "")
                  for h in s["hot_spots"]]
    if s["departments"]:
        lines.append(words["departments"])
        lines += [f"  {d['rank']}. {d['name']}: {percent(d['resolution']['compliance'])},"
                  f" {duration(d['ttf_median_s'], language)}" for d in s["departments"]]
    lines.append(words["list"])
    status = STATUS[language]
    for t in c["tickets"]:
        name = t["category_name"] if language == "zh-CN" else t["category_name_en"]
        place = t["place_name"] if language == "zh-CN" else t["place_name_en"]
        line = (f"  #{t['number']} {name} {place} [{status.get(t['status_group'], t['status'])}]"
                f" {t['department_name']} {t['person']} {duration(t['time_to_fix_s'], language)}")
        if t["reason"]:
            line += f" — {t['reason']}"
        lines.append("  " + " ".join(line.split()))
    lines.append(words["verify"].format(hash=doc["hash"]))
    return "\n".join(lines) + "\n"
