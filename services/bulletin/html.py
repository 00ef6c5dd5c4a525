"""The bulletin as web pages: the phone page and the A4 print layout for the notice
board (with a QR code to the online page). Chinese first; English with `language="en"`."""

from __future__ import annotations

from functools import cache

import jinja2
import segno
from markupsafe import Markup

from services.bulletin import charts
from services.bulletin.text import STATUS, duration, percent
from services.bulletin.view import readable
from services.tickets.bulletin_model import Document

WORDS = {
    "zh-CN": {
        "title": "每周曝光台", "period": "统计周期", "opened": "本周新增", "machine": "机器发现",
        "people": "居民/线下报告", "carried": "往周未结", "resolved": "本周办结",
        "ttf": "处理时长中位数", "p90": "90% 在此之内", "sla_response": "受理达标率",
        "sla_resolution": "办结达标率", "satisfaction": "满意度", "ratings": "人评价",
        "hot": "高发点位", "replace": "建议更换", "inspect": "建议排查", "departments": "部门排名",
        "rank": "名次", "department": "部门", "handled": "经手", "compliance": "办结达标",
        "list": "问题清单", "source": {"resident": "居民报告", "staff": "线下渠道",
                                        "camera": "摄像头发现", "sensor": "传感器发现"},
        "sla": {"met": "按时", "breached": "超时", "running": "计时中", "n/a": "—"},
        "responsible": "责任人", "measures": "处理措施", "reason": "原因",
        "ttf_short": "用时", "rejected": "不予受理", "unresolvable": "无法解决",
        "verify": "核验", "hash": "本期核验码 (SHA-256)", "prev": "上期核验码",
        "verify_how": "下载全部公告链，用 sunlight bulletin verify 核验，无需数据库：",
        "chain": "公告链 (JSON)", "text": "纯文本（业主群）", "print": "打印版",
        "other": "English", "correction": "更正", "scan": "扫码查看在线版",
        "wow": "较上周", "none": "无", "publication": "第 {n} 期公告，第 {r} 版",
        "trend": "每周趋势", "ttf_chart": "处理时长", "redacted": "已删除的内容",
    },
    "en": {
        "title": "Weekly exposure bulletin", "period": "Period", "opened": "Opened this week",
        "machine": "found by machines", "people": "reported by people",
        "carried": "still open from earlier", "resolved": "Resolved this week",
        "ttf": "Median time to fix", "p90": "90% within", "sla_response": "Responses on time",
        "sla_resolution": "Resolutions on time", "satisfaction": "Satisfaction",
        "ratings": "ratings", "hot": "Hot spots", "replace": "consider replacement",
        "inspect": "inspect", "departments": "Department ranking", "rank": "#",
        "department": "Department", "handled": "handled", "compliance": "on time",
        "list": "Tickets", "source": {"resident": "resident", "staff": "offline channel",
                                      "camera": "camera", "sensor": "sensor"},
        "sla": {"met": "on time", "breached": "late", "running": "running", "n/a": "—"},
        "responsible": "Responsible", "measures": "Measures", "reason": "Reason",
        "ttf_short": "took", "rejected": "Rejected", "unresolvable": "Unresolvable",
        "verify": "Verify", "hash": "Verification hash (SHA-256)", "prev": "Previous hash",
        "verify_how": "Download the whole chain and check it with sunlight bulletin verify,"
                      " no database needed:",
        "chain": "chain (JSON)", "text": "plain text", "print": "print layout",
        "other": "中文", "correction": "Correction", "scan": "Scan for the online version",
        "wow": "vs last week", "none": "none", "publication": "publication {n}, revision {r}",
        "trend": "Weekly trend", "ttf_chart": "Time to fix", "redacted": "Removed",
    },
}


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("services.bulletin", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = duration
    env.filters["percent"] = percent
    return env


def qr_svg(url: str) -> Markup:
    """An SVG QR code for the online page (error correction M: survives a worn print)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=3, border=2))


def render_html(document: Document, language: str = "zh-CN", *,
                print_layout: bool = False, online_url: str = "") -> str:
    doc = readable(document)
    content = doc["content"]
    summary = content["summary"]
    template = _environment().get_template("print.html" if print_layout else "page.html")
    return template.render(
        doc=doc, c=content, s=summary, w=WORDS[language], lang=language,
        status=STATUS[language], online_url=online_url,
        qr=qr_svg(online_url) if print_layout and online_url else Markup(""),
        ttf_chart=Markup(charts.ttf_by_category(summary["by_category"], language)),
        trend_chart=Markup(charts.weekly_trend(content["trend"], language)),
    )
